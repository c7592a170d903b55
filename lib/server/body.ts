/**
 * Reading a JSON request body under a size limit: a declared Content-Length over the limit is
 * refused before any byte is read, a chunked body as soon as it passes the limit (413 either way).
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

function tooLarge(limit: number): HttpError {
  // The rest of the body is not read, so the connection cannot be reused.
  return new HttpError(413, `The request body is larger than the limit of ${limit} bytes`,
    { code: 'request_too_large', headers: { Connection: 'close' } });
}

/** The raw body bytes, at most `limit` of them. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        req.pause();
        reject(tooLarge(limit));
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(parts, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new HttpError(400, `The request body could not be read: ${e.message}`, { code: 'bad_body' }));
    };
    const onClose = () => {
      cleanup();
      reject(new HttpError(400, 'The client closed the connection before sending the whole body', { code: 'bad_body' }));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/**
 * The body parsed as a JSON object (400 for anything else: empty, malformed, an array, a number).
 * The Content-Type is not checked, so `curl -d` works without a header.
 */
export async function readJsonObject(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const bytes = await readBody(req, limit);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, `The request body is not valid JSON: ${(e as Error).message}`, { code: 'invalid_json' });
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpError(400, 'The request body must be a JSON object', { code: 'invalid_json' });
  }
  return value as Record<string, unknown>;
}
