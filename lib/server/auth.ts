/**
 * Optional API key: when set, every request except the exempt paths must carry
 * `Authorization: Bearer <key>`. Keys are compared through SHA-256 digests in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors.js';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** A check that throws a 401 HttpError unless the request carries the key; a no-op without a key. */
export function bearerAuth(apiKey: string | undefined): (req: IncomingMessage) => void {
  if (apiKey === undefined) return () => {};
  const expected = digest(apiKey);
  return (req) => {
    const header = req.headers.authorization;
    const match = header === undefined ? null : /^Bearer\s+(.+)$/i.exec(header.trim());
    if (!match) {
      throw new HttpError(401, "This server needs an API key: send 'Authorization: Bearer <key>'",
        { type: 'authentication_error', code: 'missing_api_key', headers: { 'WWW-Authenticate': 'Bearer' } });
    }
    if (!timingSafeEqual(digest(match[1]!), expected)) {
      throw new HttpError(401, 'Incorrect API key provided',
        { type: 'authentication_error', code: 'invalid_api_key', headers: { 'WWW-Authenticate': 'Bearer' } });
    }
  };
}
