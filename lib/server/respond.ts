/** Writing whole responses: JSON bodies, plain text and errors. */
import type { ServerResponse } from 'node:http';
import { HttpError } from './errors.js';

/** Sends `body` as JSON with `status`; a no-op once the client has gone. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), 'application/json', headers);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType: string,
  headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  const payload = Buffer.from(text, 'utf8');
  res.writeHead(status, { ...headers, 'Content-Type': contentType, 'Content-Length': String(payload.length) });
  res.end(payload);
}

/** Sends an HttpError's OpenAI-style body, or does nothing if a response has already started. */
export function sendError(res: ServerResponse, error: HttpError): void {
  if (res.headersSent) return;
  sendJson(res, error.status, error.toBody(), error.headers);
}
