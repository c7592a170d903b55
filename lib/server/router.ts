/**
 * Routing by method and path: exact segments, `:name` parameters (one segment) and a final `*name`
 * parameter (the rest of the path, slashes included, e.g. a model id like 'EleutherAI/gpt-neo-125m'). A path that exists with another
 * method is a 405 (with Allow); a path that does not exist is a 404.
 */
import { HttpError } from './errors.js';

export interface RouteMatch<H> {
  handler: H;
  /** The route's pattern, e.g. '/v1/models/:id' (a bounded metrics label). */
  pattern: string;
  params: Record<string, string>;
}

interface Route<H> {
  method: string;
  pattern: string;
  segments: string[];
  handler: H;
}

export class Router<H> {
  private readonly routes: Route<H>[] = [];

  add(method: string, pattern: string, handler: H): this {
    this.routes.push({ method, pattern, segments: pattern.split('/'), handler });
    return this;
  }

  /** The route for a request, or a 404/405 HttpError. HEAD is served by GET routes. */
  match(method: string, pathname: string): RouteMatch<H> {
    const parts = pathname.split('/');
    const allowed: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
        return { handler: route.handler, pattern: route.pattern, params };
      }
      allowed.push(route.method);
    }
    if (allowed.length > 0) {
      return methodNotAllowed(method, pathname, allowed);
    }
    throw new HttpError(404, `Unknown route ${method} ${pathname}`, { code: 'unknown_route' });
  }
}

function methodNotAllowed(method: string, pathname: string, allowed: string[]): never {
  throw new HttpError(405, `Method ${method} is not allowed for ${pathname}; use ${allowed.join(' or ')}`,
    { code: 'method_not_allowed', headers: { Allow: allowed.join(', ') } });
}

function matchSegments(pattern: string[], parts: string[]): Record<string, string> | undefined {
  const rest = pattern[pattern.length - 1]?.startsWith('*') === true;
  if (rest ? parts.length < pattern.length : pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith(':') || p.startsWith('*')) {
      const raw = p.startsWith('*') ? parts.slice(i).join('/') : parts[i]!;
      if (raw === '') return undefined;
      try {
        params[p.slice(1)] = decodeURIComponent(raw);
      } catch {
        return undefined;
      }
    } else if (p !== parts[i]) {
      return undefined;
    }
  }
  return params;
}
