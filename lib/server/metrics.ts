/**
 * The server's Prometheus metrics: requests by route and status, latency and time to first token,
 * token counters, and gauges read at scrape time from the admission queue and the model's engine;
 * and the GET /metrics route that renders them.
 */
import type { Admission } from './admission.js';
import type { RequestContext } from './context.js';
import type { ServedModel } from './options.js';
import { Counter, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE, Registry } from './prometheus.js';
import { sendText } from './respond.js';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const TTFT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class ServerMetrics {
  private readonly registry = new Registry();
  readonly requests = this.registry.register(new Counter('gptneo_http_requests_total',
    'HTTP requests answered, by route pattern, method and status (499: the client went away first)'));
  readonly latency = this.registry.register(new Histogram('gptneo_http_request_duration_seconds',
    'Time from a request\'s arrival to its last response byte, by route pattern', LATENCY_BUCKETS));
  readonly timeToFirstToken = this.registry.register(new Histogram('gptneo_time_to_first_token_seconds',
    'Time from a completion request\'s arrival to its first generated token', TTFT_BUCKETS));
  readonly promptTokens = this.registry.register(new Counter('gptneo_prompt_tokens_total',
    'Prompt tokens of finished completion and embedding requests'));
  readonly generatedTokens = this.registry.register(new Counter('gptneo_generated_tokens_total',
    'Tokens generated for completion requests'));

  constructor(admission: Admission, model: ServedModel) {
    const r = this.registry;
    r.register(new Gauge('gptneo_requests_running', 'Requests holding one of the server\'s model slots', () => admission.running));
    r.register(new Gauge('gptneo_requests_queued', 'Requests waiting for a model slot', () => admission.waiting));
    r.register(new Gauge('gptneo_engine_sequences_running', 'Sequences the engine is decoding', () => model.stats().running));
    r.register(new Gauge('gptneo_engine_sequences_waiting', 'Sequences waiting for the engine to admit them', () => model.stats().waiting));
    r.register(new Gauge('gptneo_kv_blocks_used', 'KV-cache blocks held by live sequences', () => model.stats().kv.usedBlocks));
    r.register(new Gauge('gptneo_kv_blocks_free', 'KV-cache blocks that can be allocated (free or evictable)', () => model.stats().kv.freeBlocks));
    r.register(new Gauge('gptneo_kv_blocks_total', 'KV-cache blocks in the pool', () => model.stats().kv.numBlocks));
    r.register(new Gauge('gptneo_engine_preemptions_total', 'Sequences preempted for lack of KV blocks',
      () => model.stats().preemptions, 'counter'));
  }

  /** The exposition text for GET /metrics. */
  render(): string {
    return this.registry.render();
  }
}

/** GET /metrics. */
export async function handleMetrics(ctx: RequestContext): Promise<void> {
  sendText(ctx.res, 200, ctx.state.metrics.render(), PROMETHEUS_CONTENT_TYPE, { 'Cache-Control': 'no-store' });
}
