/** GET /health: 200 while serving, 503 while draining (so a load balancer stops sending work). */
import type { RequestContext } from './context.js';
import { sendJson } from './respond.js';

export async function handleHealth(ctx: RequestContext): Promise<void> {
  if (ctx.state.draining) sendJson(ctx.res, 503, { status: 'draining' }, { 'Cache-Control': 'no-store', Connection: 'close' });
  else sendJson(ctx.res, 200, { status: 'ok' }, { 'Cache-Control': 'no-store' });
}
