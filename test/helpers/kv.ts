// Shared by the kv-cache tests: a seeded PRNG (so random-operation tests replay exactly) and a
// prefill that drives KvCacheManager the way the engine does.
import assert from 'node:assert/strict';
import type { KvCacheManager } from '../../lib/kv-cache/index.js';

export { seededRandom } from '../../lib/bench/tokenizer.js';

/** Runs a prompt through the manager like the engine's prefill would; returns the sequence. */
export function prefill(kv: KvCacheManager, prompt: number[]): { seqId: number; cachedTokens: number } {
  const created = kv.createSequence(prompt);
  assert.ok(kv.ensureCapacity(created.seqId, prompt.length), 'pool large enough for the test');
  kv.appendTokens(created.seqId, prompt.slice(created.cachedTokens));
  kv.checkInvariants();
  return created;
}
