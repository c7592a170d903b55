/** `gpt-neo embed [options] [TEXT ...]`: one JSON line per text with its embedding. */
import { createInterface } from 'node:readline';
import type { GptNeoModel } from '../model/model.js';
import { MODEL_OPTIONS_HELP, modelOptions, parse, toInt, UsageError } from './common.js';
import { loadModelFromCli } from './load-from-cli.js';

export const EMBED_HELP = `Usage: gpt-neo embed [options] [TEXT ...]
Prints one JSON line per text: {"index": i, "embedding": [...]}. With no TEXT, embeds each line
of standard input; index is then the line's number from 0 (blank lines are skipped).

Embedding options:
      --pooling P       mean | last | first: how a text's final hidden states become one vector
                        (default mean)
      --no-normalize    keep the pooled vector as it is (default: scaled to unit length)
      --truncate        embed the first context-size tokens of a longer text instead of failing
      --batch N         stdin lines embedded per model call (default 32)
${MODEL_OPTIONS_HELP}`;

type Pooling = 'mean' | 'last' | 'first';

export async function embedCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...modelOptions,
    pooling: { type: 'string', default: 'mean' },
    'no-normalize': { type: 'boolean', default: false },
    truncate: { type: 'boolean', default: false },
    batch: { type: 'string', default: '32' },
  });
  if (values.help) {
    process.stdout.write(`${EMBED_HELP}\n`);
    return 0;
  }
  if (!['mean', 'last', 'first'].includes(values.pooling)) {
    throw new UsageError(`--pooling expects mean, last or first but received ${JSON.stringify(values.pooling)}`);
  }
  const batch = toInt('batch', values.batch)!;
  if (batch < 1) throw new UsageError(`--batch expects a positive integer but received ${batch}`);
  const options = { pooling: values.pooling as Pooling, normalize: !values['no-normalize'], truncate: values.truncate };

  await using model = await loadModelFromCli(values);
  const write = (index: number, v: Float32Array) => {
    process.stdout.write(`${JSON.stringify({ index, embedding: Array.from(v) })}\n`);
  };
  if (positionals.length > 0) {
    const vectors = await model.embed(positionals, options);
    vectors.forEach((v, i) => write(i, v));
    return 0;
  }
  await embedLines(model, options, batch, write);
  return 0;
}

/** Embeds standard input line by line, `batch` lines per call, printing in input order. */
async function embedLines(model: GptNeoModel, options: { pooling: Pooling; normalize: boolean; truncate: boolean },
  batch: number, write: (index: number, v: Float32Array) => void): Promise<void> {
  let pending: { index: number; text: string }[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    const items = pending;
    pending = [];
    const vectors = await model.embed(items.map((it) => it.text), options);
    vectors.forEach((v, i) => write(items[i]!.index, v));
  };
  let index = 0;
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (line.trim() !== '') pending.push({ index, text: line });
    index++;
    if (pending.length >= batch) await flush();
  }
  await flush();
}
