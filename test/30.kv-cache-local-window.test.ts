import assert from 'node:assert/strict';
import { isGptNeoError } from '../lib/errors.js';
import { KvCacheManager, maxWindowBlocks, windowBlockRange } from '../lib/kv-cache/index.js';
import { prefill } from './helpers/kv.js';

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

describe('kv-cache: local-layer pool (sliding window)', () => {
  it('a decoding sequence holds at most maxWindowBlocks local blocks, so a tiny local pool suffices', () => {
    const blockSize = 4;
    const windowSize = 8;
    const limit = maxWindowBlocks(windowSize, blockSize); // 3
    const kv = new KvCacheManager({ numBlocks: 40, blockSize, localWindow: { windowSize, numBlocks: limit } });
    const { seqId } = kv.createSequence([7]);
    assert.ok(kv.ensureCapacity(seqId, 1));
    kv.appendTokens(seqId, [7]);
    for (let position = 1; position < 150; position++) {
      assert.ok(kv.ensureCapacity(seqId, position + 1), `room for position ${position}`);
      const local = kv.localBlockTable(seqId);
      assert.equal(local.length, kv.blockTable(seqId).length);
      const reads = windowBlockRange(position, position + 1, windowSize, blockSize);
      for (let i = 0; i < local.length; i++) {
        assert.equal(local[i] !== -1, i >= reads.first, `slot ${i} at position ${position}`);
      }
      assert.ok(kv.stats().local!.usedBlocks <= limit);
      kv.appendTokens(seqId, [position % 50]);
    }
    kv.checkInvariants();
    assert.equal(kv.stats().usedBlocks, 38, 'global layers keep every block');
    kv.freeSequence(seqId);
    assert.ok(kv.allFree());
  });

  it('a prefix hit needs the local blocks of its last window, and is shortened without them', () => {
    // window 8, block 4: a query at position p reads local blocks from floor((p - 7) / 4).
    const kv = new KvCacheManager({ numBlocks: 64, blockSize: 4, localWindow: { windowSize: 8, numBlocks: 8 } });
    const p = range(100, 20); // 5 full blocks
    const a = prefill(kv, p);
    kv.freeSequence(a.seqId);
    assert.deepEqual(kv.stats().local, {
      numBlocks: 8, windowSize: 8, freeBlocks: 8, usedBlocks: 0, cachedBlocks: 5, evictableBlocks: 5,
    });
    // Local LRU now: L0 L1 L2 (slid out of the window, in order), then L4 L3 (freed last first).
    // A 13-token prompt reuses 3 blocks and needs L1 L2; freeing it moves them to the LRU tail.
    const e = prefill(kv, p.slice(0, 13));
    assert.equal(e.cachedTokens, 12);
    assert.deepEqual([...kv.localBlockTable(e.seqId)].map((b) => b !== -1), [false, true, true, true]);
    kv.freeSequence(e.seqId);
    // Take 5 local blocks: the 3 free ones, then evict L0 and L4.
    const f = kv.createSequence(range(500, 17));
    assert.ok(kv.ensureCapacity(f.seqId, 17));
    assert.equal(kv.stats().local!.cachedBlocks, 3);
    kv.freeSequence(f.seqId); // its blocks held nothing committed: straight back to the free lists
    // All 5 main blocks of p are still cached, but the window before position 20 needs L3 and L4:
    // the longest usable prefix is 4 blocks (window before 16 needs L2 and L3).
    const b = kv.createSequence([...p, 1]);
    assert.equal(b.cachedTokens, 16);
    assert.equal(kv.stats().hitTokens, 12 + 16);
    assert.ok(kv.ensureCapacity(b.seqId, 21));
    kv.appendTokens(b.seqId, [...p.slice(16), 1]);
    kv.checkInvariants();
    // b recomputed block 4 and cached its local block again: the full hit is back.
    assert.equal(kv.createSequence([...p, 2]).cachedTokens, 20);
    kv.checkInvariants();
  });

  it('evicting a main-pool entry frees its local companion at once', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: 4, localWindow: { windowSize: 4, numBlocks: 8 } });
    const a = prefill(kv, range(1, 9)); // main: 2 full blocks + 1 partial
    kv.freeSequence(a.seqId);
    assert.equal(kv.stats().cachedBlocks, 2);
    assert.equal(kv.stats().local!.cachedBlocks, 2);
    const b = kv.createSequence(range(50, 16));
    assert.ok(kv.ensureCapacity(b.seqId, 16)); // evicts both main entries of a
    assert.equal(kv.stats().cachedBlocks, 0);
    assert.deepEqual(kv.stats().local, {
      numBlocks: 8, windowSize: 4, freeBlocks: 4, usedBlocks: 4, cachedBlocks: 0, evictableBlocks: 0,
    });
    kv.checkInvariants();
  });

  it('an exhausted local pool refuses capacity without changing either pool', () => {
    const kv = new KvCacheManager({ numBlocks: 32, blockSize: 4, localWindow: { windowSize: 4, numBlocks: 3 } });
    const a = kv.createSequence(range(1, 13));
    assert.equal(kv.canAdmit(13), false, 'a 13-token prefill needs 4 local blocks at once');
    assert.equal(kv.ensureCapacity(a.seqId, 13), false);
    assert.equal(kv.blockTable(a.seqId).length, 0);
    assert.equal(kv.stats().freeBlocks, 32);
    assert.equal(kv.stats().local!.freeBlocks, 3);
    // Chunked prefill fits: 8 tokens, then the window slides and the rest fits.
    assert.ok(kv.ensureCapacity(a.seqId, 8));
    kv.appendTokens(a.seqId, range(1, 8));
    assert.ok(kv.ensureCapacity(a.seqId, 13));
    kv.appendTokens(a.seqId, range(9, 5));
    kv.checkInvariants();
    assert.throws(() => new KvCacheManager({ numBlocks: 4, blockSize: 4, localWindow: { windowSize: 0, numBlocks: 2 } }),
      (e: unknown) => isGptNeoError(e, 'ERR_GPTNEO_INVALID_ARGUMENT'));
    const plain = new KvCacheManager({ numBlocks: 4, blockSize: 4 });
    const s = plain.createSequence([1]);
    assert.throws(() => plain.localBlockTable(s.seqId), (e: unknown) => isGptNeoError(e, 'ERR_GPTNEO_UNSUPPORTED'));
  });
});
