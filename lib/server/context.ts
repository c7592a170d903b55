/** What every route handler receives: the request, its abort signal, and the server's shared state. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admission } from './admission.js';
import type { ServerMetrics } from './metrics.js';
import type { ResolvedServerOptions, ServedModel } from './options.js';

export interface ServerState {
  readonly model: ServedModel;
  readonly options: ResolvedServerOptions;
  readonly admission: Admission;
  readonly metrics: ServerMetrics;
  /** Unix seconds when the server was created (the model's `created`). */
  readonly createdAt: number;
  /** True once close() has begun: /health answers 503 and new requests are refused. */
  readonly draining: boolean;
}

export interface RequestContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly url: URL;
  /** Path parameters of the matched route. */
  readonly params: Record<string, string>;
  /** Aborts when the client goes away before the response ends, or when a drain times out. */
  readonly signal: AbortSignal;
  /** performance.now() when the request arrived. */
  readonly startedAt: number;
  readonly state: ServerState;
}

export type Handler = (ctx: RequestContext) => Promise<void>;
