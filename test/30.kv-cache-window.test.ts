import assert from 'node:assert/strict';
import { isGptNeoError } from '../lib/errors.js';
import { KvCacheManager, kvBytesPerSequence, maxWindowBlocks, windowBlockRange } from '../lib/kv-cache/index.js';

const invalidArgument = (e: unknown): boolean => isGptNeoError(e, 'ERR_GPTNEO_INVALID_ARGUMENT');
const MiB = 1024 * 1024;

/** GPT-Neo-125M: 12 layers alternating global/local, window 256, hidden 768; one sequence of 2048 tokens. */
const neo125m = { layers: 12, localLayers: 6, windowSize: 256, hidden: 768, contextTokens: 2048, blockSize: 16 };

describe('kv-cache: sliding window', () => {
  it('computes the GPT-Neo-125M saving at 2048 tokens in fp32', () => {
    const r = kvBytesPerSequence({ ...neo125m, bytesPerElement: 4 });
    // naive: 12 layers × 2048 tokens × (K + V = 2 × 768) × 4 B; windowed: local layers keep 17 blocks.
    assert.equal(r.naiveBytes, 12 * 2048 * 2 * 768 * 4);
    assert.equal(r.naiveBytes, 144 * MiB);
    assert.equal(r.windowedBytes, (6 * 2048 + 6 * 17 * 16) * 2 * 768 * 4);
    assert.equal(r.windowedBytes, 85_524_480);
    assert.equal(r.savedBytes, 65_470_464);
    assert.equal(r.savedBytes / MiB, 62.4375);
    assert.equal(r.savedFraction, 666 / 1536);
  });

  it('computes the GPT-Neo-125M saving at 2048 tokens in bf16', () => {
    const r = kvBytesPerSequence({ ...neo125m, bytesPerElement: 2 });
    assert.equal(r.naiveBytes, 72 * MiB);
    assert.equal(r.windowedBytes, 42_762_240);
    assert.equal(r.savedBytes, 32_735_232);
    assert.equal(r.savedFraction, 666 / 1536);
  });

  it('saves nothing inside the window and approaches the local share for long contexts', () => {
    const short = kvBytesPerSequence({ ...neo125m, contextTokens: 200, bytesPerElement: 4 });
    assert.equal(short.savedBytes, 0);
    assert.equal(short.naiveBytes, 12 * 208 * 2 * 768 * 4, 'whole blocks: 200 tokens occupy 13 blocks');
    const allGlobal = kvBytesPerSequence({ ...neo125m, localLayers: 0, bytesPerElement: 4 });
    assert.equal(allGlobal.savedBytes, 0);
    const long = kvBytesPerSequence({ ...neo125m, contextTokens: 1 << 20, bytesPerElement: 4 });
    assert.ok(long.savedFraction > 0.49 && long.savedFraction < 0.5);
    assert.throws(() => kvBytesPerSequence({ ...neo125m, localLayers: 13, bytesPerElement: 4 }), invalidArgument);
    assert.throws(() => kvBytesPerSequence({ ...neo125m, bytesPerElement: 0 }), invalidArgument);
  });

  it('bounds the blocks a window touches', () => {
    assert.equal(maxWindowBlocks(256, 16), 17);
    assert.equal(maxWindowBlocks(1, 16), 1);
    assert.equal(maxWindowBlocks(16, 16), 2);
    assert.equal(maxWindowBlocks(17, 16), 2);
    assert.equal(maxWindowBlocks(18, 16), 3);
    assert.equal(maxWindowBlocks(8, 1), 8);
  });

  it('windowBlockRange covers exactly the blocks of the keys local layers read', () => {
    for (const blockSize of [1, 3, 4, 16]) {
      for (const windowSize of [1, 2, 5, 8, 16, 17]) {
        for (let queryStart = 0; queryStart < 40; queryStart++) {
          for (const count of [1, 2, 7]) {
            const queryEnd = queryStart + count;
            // Keys read: every j with q − window < j ≤ q for some query q in [queryStart, queryEnd).
            let lo = Infinity;
            let hi = -Infinity;
            for (let q = queryStart; q < queryEnd; q++) {
              for (let j = Math.max(0, q - windowSize + 1); j <= q; j++) {
                lo = Math.min(lo, Math.floor(j / blockSize));
                hi = Math.max(hi, Math.floor(j / blockSize));
              }
            }
            const r = windowBlockRange(queryStart, queryEnd, windowSize, blockSize);
            assert.deepEqual(r, { first: lo, end: hi + 1 }, `q [${queryStart}, ${queryEnd}) w ${windowSize} b ${blockSize}`);
            if (count === 1) assert.ok(r.end - r.first <= maxWindowBlocks(windowSize, blockSize));
          }
        }
      }
    }
    assert.throws(() => windowBlockRange(5, 5, 4, 4), invalidArgument);
    assert.throws(() => windowBlockRange(-1, 2, 4, 4), invalidArgument);
  });

  it('windowBlockTable gives a sequence’s local layers the tail of its block table', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const { seqId } = kv.createSequence(Array.from({ length: 40 }, (_, i) => i));
    assert.ok(kv.ensureCapacity(seqId, 41));
    kv.appendTokens(seqId, Array.from({ length: 40 }, (_, i) => i));
    const table = kv.blockTable(seqId);
    // Next query at position 40 reads keys 33..40: blocks 8, 9, 10.
    const w = kv.windowBlockTable(seqId, 8);
    assert.equal(w.firstBlockIndex, 8);
    assert.deepEqual([...w.blocks], [...table.slice(8, 11)]);
    // A window longer than the sequence is the whole table.
    const all = kv.windowBlockTable(seqId, 256);
    assert.equal(all.firstBlockIndex, 0);
    assert.deepEqual([...all.blocks], [...table]);
  });
});
