/** `gpt-neo serve [options]`: an OpenAI-compatible HTTP server for one model, until SIGINT/SIGTERM. */
import { createServer } from '../server/index.js';
import { resolveServerOptions } from '../server/options.js';
import { MODEL_OPTIONS_HELP, modelOptions, parse, toInt, UsageError } from './common.js';
import { loadModelFromCli } from './load-from-cli.js';

export const SERVE_HELP = `Usage: gpt-neo serve [options]
Serves the model over an OpenAI-compatible HTTP API: POST /v1/completions (streaming with
"stream": true), POST /v1/embeddings, GET /v1/models, GET /health, GET /metrics (Prometheus).
SIGINT or SIGTERM drains: no new requests, in-flight ones finish (a second signal exits at once).

Server options:
      --port N              TCP port (default 8080; 0 picks a free one)
      --host H              address to listen on (default 127.0.0.1, this machine only;
                            0.0.0.0 for every interface)
      --model-id ID         the model's name in requests and /v1/models (default: --model)
      --api-key KEY         require 'Authorization: Bearer KEY' on every route but /health
                            (prefer the GPTNEO_API_KEY environment variable: arguments are visible to ps)
      --max-concurrent N    requests handed to the model at once (default 32)
      --max-queue N         requests waiting beyond those; more are refused with 429 (default 64)
      --max-body-bytes N    largest request body; larger is refused with 413 (default 1048576)
      --drain-timeout S     seconds in-flight requests get to finish on shutdown (default 30)
      --embedding-pooling P mean | last | first (default mean)
${MODEL_OPTIONS_HELP}`;

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...modelOptions,
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '127.0.0.1' },
    'model-id': { type: 'string' },
    'api-key': { type: 'string' },
    'max-concurrent': { type: 'string' },
    'max-queue': { type: 'string' },
    'max-body-bytes': { type: 'string' },
    'drain-timeout': { type: 'string' },
    'embedding-pooling': { type: 'string' },
  });
  if (values.help) {
    process.stdout.write(`${SERVE_HELP}\n`);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`serve takes no arguments but received ${JSON.stringify(positionals[0])}`);
  const port = toInt('port', values.port)!;
  if (port < 0 || port > 65535) throw new UsageError(`--port expects an integer in [0, 65535] but received ${port}`);
  const drainSeconds = toInt('drain-timeout', values['drain-timeout']);
  const pooling = values['embedding-pooling'];
  if (pooling !== undefined && !['mean', 'last', 'first'].includes(pooling)) {
    throw new UsageError(`--embedding-pooling expects mean, last or first but received ${JSON.stringify(pooling)}`);
  }
  const options = {
    modelId: values['model-id'] ?? values.model,
    apiKey: values['api-key'] ?? (process.env.GPTNEO_API_KEY || undefined),
    maxConcurrent: toInt('max-concurrent', values['max-concurrent']),
    maxQueue: toInt('max-queue', values['max-queue']),
    maxBodyBytes: toInt('max-body-bytes', values['max-body-bytes']),
    drainTimeoutMs: drainSeconds === undefined ? undefined : drainSeconds * 1000,
    embeddingPooling: pooling as 'mean' | 'last' | 'first' | undefined,
    onError: (e: unknown) => {
      process.stderr.write(`gpt-neo serve: request failed: ${values.verbose && e instanceof Error ? e.stack : String(e)}\n`);
    },
  };

  resolveServerOptions(options);  // bad values fail now, not after the model has loaded
  await using model = await loadModelFromCli(values);
  const server = createServer(model, options);
  const address = await server.listen(port, values.host);
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  process.stderr.write(`gpt-neo: serving ${options.modelId} on http://${shown}:${address.port}` +
    `${options.apiKey ? ' (API key required)' : ''}\n`);

  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      process.stderr.write(`gpt-neo: ${signal}: draining in-flight requests (again to exit now)\n`);
      process.once('SIGINT', () => process.exit(130));
      process.once('SIGTERM', () => process.exit(143));
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  await server.close();
  process.stderr.write('gpt-neo: stopped\n');
  return 0;
}
