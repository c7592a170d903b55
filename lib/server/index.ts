/** The OpenAI-compatible HTTP server (public surface of lib/server). */
export { createServer, type GptNeoServer } from './app.js';
export type { ServerOptions, ServedModel, EmbeddingPooling } from './options.js';
export { HttpError, type OpenAiErrorBody } from './errors.js';
