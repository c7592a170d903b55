/**
 * Server-sent events as OpenAI streams them: `data: <json>\n\n` per event, `data: [DONE]\n\n` last.
 */
import type { ServerResponse } from 'node:http';

export class SseStream {
  constructor(private readonly res: ServerResponse) {}

  /** Sends the 200 and headers now, so the client sees the stream open before the first token. */
  open(): void {
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      'X-Accel-Buffering': 'no',
    });
    this.res.flushHeaders();
  }

  /** Whether events can still be written (the client is connected and the stream not ended). */
  get writable(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  send(data: unknown): void {
    if (this.writable) this.res.write(`data: ${JSON.stringify(data)}\n\n`);
  }

  /** Sends the [DONE] sentinel and ends the response. */
  done(): void {
    if (this.writable) this.res.end('data: [DONE]\n\n');
  }
}
