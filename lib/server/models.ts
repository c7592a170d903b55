/** GET /v1/models and GET /v1/models/{id}: the one model this server serves. */
import type { RequestContext } from './context.js';
import { HttpError } from './errors.js';
import { sendJson } from './respond.js';

function modelObject(ctx: RequestContext): { id: string; object: 'model'; created: number; owned_by: string } {
  return { id: ctx.state.options.modelId, object: 'model', created: ctx.state.createdAt, owned_by: 'gpt-neo-node' };
}

export async function handleListModels(ctx: RequestContext): Promise<void> {
  sendJson(ctx.res, 200, { object: 'list', data: [modelObject(ctx)] });
}

export async function handleRetrieveModel(ctx: RequestContext): Promise<void> {
  const id = ctx.params.id!;
  if (id !== ctx.state.options.modelId) {
    throw new HttpError(404, `The model '${id}' does not exist; this server serves '${ctx.state.options.modelId}'`,
      { param: 'model', code: 'model_not_found' });
  }
  sendJson(ctx.res, 200, modelObject(ctx));
}
