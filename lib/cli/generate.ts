/** `gpt-neo generate [options] PROMPT`: streams a continuation to stdout. */
import { MODEL_OPTIONS_HELP, modelOptions, parse, toInt, toNumber, UsageError } from './common.js';
import { loadModelFromCli } from './load-from-cli.js';

export const GENERATE_HELP = `Usage: gpt-neo generate [options] PROMPT
Streams a continuation of PROMPT (or of standard input when PROMPT is '-').

Sampling options:
  -n, --max-new-tokens N    tokens to generate (default 64)
  -t, --temperature T       0 = greedy (default 0.8)
      --top-k K             keep the K most likely tokens (0 = off)
      --top-p P             nucleus sampling (1 = off)
      --min-p P             drop tokens below P x the top probability (0 = off)
      --repetition-penalty R  Hugging Face repetition penalty (1 = off)
      --seed S              reproducible sampling
      --stop STR            stop at STR (repeatable)
      --ignore-eos          keep going after <|endoftext|>
${MODEL_OPTIONS_HELP}`;

export async function generateCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...modelOptions,
    'max-new-tokens': { type: 'string', short: 'n', default: '64' },
    temperature: { type: 'string', short: 't', default: '0.8' },
    'top-k': { type: 'string' },
    'top-p': { type: 'string' },
    'min-p': { type: 'string' },
    'repetition-penalty': { type: 'string' },
    seed: { type: 'string' },
    stop: { type: 'string', multiple: true },
    'ignore-eos': { type: 'boolean', default: false },
  });
  if (values.help) {
    process.stdout.write(`${GENERATE_HELP}\n`);
    return 0;
  }
  let prompt = positionals.join(' ');
  if (prompt === '-') prompt = await readStdin();
  if (prompt.length === 0) throw new UsageError('generate needs a PROMPT (or - to read standard input)');
  const genOptions = {
    maxNewTokens: toInt('max-new-tokens', values['max-new-tokens']),
    temperature: toNumber('temperature', values.temperature),
    topK: toInt('top-k', values['top-k']),
    topP: toNumber('top-p', values['top-p']),
    minP: toNumber('min-p', values['min-p']),
    repetitionPenalty: toNumber('repetition-penalty', values['repetition-penalty']),
    seed: toInt('seed', values.seed),
    stop: values.stop,
    ignoreEos: values['ignore-eos'] || undefined,
  };
  await using model = await loadModelFromCli(values);
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    process.stdout.write(prompt);
    for await (const chunk of model.stream(prompt, { ...genOptions, signal: controller.signal })) {
      process.stdout.write(chunk.text);
    }
    process.stdout.write('\n');
  } finally {
    process.off('SIGINT', onSigint);
  }
  return 0;
}

async function readStdin(): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of process.stdin) parts.push(c as Buffer);
  return Buffer.concat(parts).toString('utf8');
}
