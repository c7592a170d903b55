/**
 * createServer(): an OpenAI-compatible HTTP server for one loaded model, on node:http alone.
 *
 *   POST /v1/completions   POST /v1/embeddings   GET /v1/models[/{id}]   GET /health   GET /metrics
 *
 * Each request gets an AbortSignal that fires when its client goes away, so abandoned generations
 * stop and free their KV blocks. close() drains: new connections and requests are refused (and
 * /health answers 503) while in-flight requests finish, for at most drainTimeoutMs; then the
 * remaining ones are aborted and every connection is closed.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Admission } from './admission.js';
import { bearerAuth } from './auth.js';
import { handleCompletions } from './completions.js';
import type { Handler, RequestContext, ServerState } from './context.js';
import { handleEmbeddings } from './embeddings.js';
import { HttpError, isUnexpected, toHttpError } from './errors.js';
import { handleHealth } from './health.js';
import { handleMetrics, ServerMetrics } from './metrics.js';
import { handleListModels, handleRetrieveModel } from './models.js';
import { resolveServerOptions, type ServedModel, type ServerOptions } from './options.js';
import { sendError } from './respond.js';
import { Router, type RouteMatch } from './router.js';

export interface GptNeoServer {
  /** The underlying node:http server. */
  readonly server: Server;
  /** Starts listening; host defaults to 127.0.0.1 (loopback only), port 0 picks a free port. */
  listen(port?: number, host?: string): Promise<AddressInfo>;
  /** Stops accepting work, lets in-flight requests finish (up to drainTimeoutMs), then closes. Idempotent. */
  close(): Promise<void>;
}

const HEALTH_PATH = '/health';
const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** How long aborted requests get to end their responses after a drain times out. */
const ABORT_GRACE_MS = 1000;

/**
 * The request target as a URL. The path is taken literally ('//a/b' is not a host), and the
 * absolute form ('http://host/path') is accepted too; anything else is a 400.
 */
function requestUrl(target: string): URL {
  try {
    return target.startsWith('/') ? new URL(`http://localhost${target}`) : new URL(target);
  } catch {
    throw new HttpError(400, `The request target ${JSON.stringify(target.slice(0, 100))} is not a valid URL`, { code: 'bad_request_target' });
  }
}

/** Creates (but does not start) a server for `model`; see ServerOptions for the limits. */
export function createServer(model: ServedModel, options: ServerOptions = {}): GptNeoServer {
  const resolved = resolveServerOptions(options);
  const admission = new Admission(resolved.maxConcurrent, resolved.maxQueue);
  const state = {
    model, options: resolved, admission,
    metrics: new ServerMetrics(admission, model),
    createdAt: Math.floor(Date.now() / 1000),
    draining: false as boolean,
  } satisfies ServerState;
  const router = new Router<Handler>()
    .add('POST', '/v1/completions', handleCompletions)
    .add('POST', '/v1/embeddings', handleEmbeddings)
    .add('GET', '/v1/models', handleListModels)
    .add('GET', '/v1/models/*id', handleRetrieveModel)
    .add('GET', HEALTH_PATH, handleHealth)
    .add('GET', '/metrics', handleMetrics);
  const authorize = bearerAuth(resolved.apiKey);
  const inFlight = new Map<AbortController, ServerResponse>();
  let onIdle: (() => void) | undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const startedAt = performance.now();
    const controller = new AbortController();
    const method = KNOWN_METHODS.has(req.method ?? '') ? req.method! : 'OTHER';
    let pattern = 'unmatched';
    inFlight.set(controller, res);
    res.on('close', () => {
      const finished = res.writableFinished;
      if (!finished) controller.abort(new HttpError(499, 'The client closed the connection'));
      inFlight.delete(controller);
      state.metrics.requests.inc({ route: pattern, method, status: finished ? String(res.statusCode) : '499' });
      state.metrics.latency.observe((performance.now() - startedAt) / 1000, { route: pattern });
      if (inFlight.size === 0) onIdle?.();
    });
    if (state.draining) res.setHeader('Connection', 'close');
    try {
      const url = requestUrl(req.url ?? '/');
      let match: RouteMatch<Handler> | undefined;
      let routingError: unknown;
      try {
        match = router.match(method, url.pathname);
        pattern = match.pattern;
      } catch (e) {
        routingError = e;
      }
      // Authenticate before saying whether a route exists.
      if (url.pathname !== HEALTH_PATH) authorize(req);
      if (!match) throw routingError;
      if (state.draining && pattern !== HEALTH_PATH) {
        throw new HttpError(503, 'The server is shutting down', { code: 'server_shutting_down', headers: { Connection: 'close' } });
      }
      const ctx: RequestContext = { req, res, url, params: match.params, signal: controller.signal, startedAt, state };
      await match.handler(ctx);
    } catch (e) {
      if (isUnexpected(e)) resolved.onError(e);
      sendError(res, toHttpError(e));
    }
  };

  const server = createHttpServer((req, res) => void handle(req, res));
  let closing: Promise<void> | undefined;

  const drained = (timeoutMs: number): Promise<boolean> => new Promise((resolve) => {
    if (inFlight.size === 0) return resolve(true);
    const timer = setTimeout(() => { onIdle = undefined; resolve(false); }, timeoutMs);
    onIdle = () => { clearTimeout(timer); onIdle = undefined; resolve(true); };
  });

  return {
    server,
    listen(port = 0, host = '127.0.0.1') {
      return new Promise<AddressInfo>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        server.once('error', onError);
        server.listen(port, host, () => {
          server.off('error', onError);
          resolve(server.address() as AddressInfo);
        });
      });
    },
    close() {
      closing ??= (async () => {
        state.draining = true;
        // Responses still to come must not invite the client to reuse a connection about to close.
        for (const res of inFlight.values()) if (!res.headersSent) res.setHeader('Connection', 'close');
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (!(await drained(resolved.drainTimeoutMs))) {
          const reason = new HttpError(503, 'The server shut down before this request finished', { code: 'server_shutting_down' });
          for (const c of inFlight.keys()) c.abort(reason);
          await drained(ABORT_GRACE_MS);
        }
        server.closeAllConnections();
        await stopped;
      })();
      return closing;
    },
  };
}
