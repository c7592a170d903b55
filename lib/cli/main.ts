#!/usr/bin/env node
/** The `gpt-neo` command: one file per subcommand. */
import { reportError, UsageError } from './common.js';
import { DOWNLOAD_HELP, downloadCommand } from './download.js';
import { EMBED_HELP, embedCommand } from './embed.js';
import { GENERATE_HELP, generateCommand } from './generate.js';
import { INFO_HELP, infoCommand } from './info.js';
import { SERVE_HELP, serveCommand } from './serve.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; help: string; summary: string }> = {
  generate: { run: generateCommand, help: GENERATE_HELP, summary: 'stream a continuation of a prompt' },
  info: { run: infoCommand, help: INFO_HELP, summary: 'CPU SIMD level, threads, GPUs (and why one is unusable)' },
  download: { run: downloadCommand, help: DOWNLOAD_HELP, summary: 'download a model into the Hugging Face cache' },
  serve: { run: serveCommand, help: SERVE_HELP, summary: 'an OpenAI-compatible HTTP server (completions, embeddings)' },
  embed: { run: embedCommand, help: EMBED_HELP, summary: 'print embeddings of texts (or stdin lines) as JSON lines' },
};

const MAIN_HELP = `Usage: gpt-neo <command> [options]

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}

Run 'gpt-neo <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${MAIN_HELP}\n`);
    return name === undefined ? 2 : 0;
  }
  if (name === '--version') {
    const { createRequire } = await import('node:module');
    const pkg = createRequire(import.meta.url)('../../../package.json') as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) throw new UsageError(`unknown command '${name}'`);
  return command.run(rest);
}

const argv = process.argv.slice(2);
main(argv).then((code) => { process.exitCode = code; }, (e) => {
  process.exitCode = reportError(e, argv.includes('--verbose') || argv.includes('-v'));
});
