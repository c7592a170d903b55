import assert from 'node:assert/strict';
import { isGptNeoError } from '../lib/errors.js';
import { type BlockHashFn, KvCacheManager, type KvCacheManagerOptions, windowBlockRange } from '../lib/kv-cache/index.js';
import { prefill, seededRandom } from './helpers/kv.js';

const invalidArgument = (e: unknown): boolean => isGptNeoError(e, 'ERR_GPTNEO_INVALID_ARGUMENT');

describe('kv-cache: KvCacheManager', () => {
  it('evicts cached blocks LRU, deepest block of a sequence first, only when the free list is empty', () => {
    const kv = new KvCacheManager({ numBlocks: 6, blockSize: 2 });
    const a = prefill(kv, [1, 2, 3, 4, 5]); // blocks a0 a1 full, a2 partial
    const [a0, a1] = kv.blockTable(a.seqId);
    kv.freeSequence(a.seqId);
    const b = prefill(kv, [6, 7, 8, 9, 10]);
    const [b0, b1] = kv.blockTable(b.seqId);
    kv.freeSequence(b.seqId);
    assert.deepEqual(kv.evictionOrder(), [a1, a0, b1, b0]);
    assert.deepEqual(kv.stats().freeBlocks, 6);
    assert.deepEqual(kv.stats().cachedBlocks, 4);

    const c = kv.createSequence([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    assert.ok(kv.ensureCapacity(c.seqId, 10)); // 5 blocks: 2 free, then a1, a0, b1
    const tc = [...kv.blockTable(c.seqId)];
    assert.deepEqual(tc.slice(2), [a1, a0, b1]);
    assert.deepEqual(kv.evictionOrder(), [b0]);
    assert.equal(kv.stats().cachedBlocks, 1);
    kv.checkInvariants();
    assert.equal(kv.createSequence([1, 2, 3, 4, 5]).cachedTokens, 0, 'a was evicted');
    assert.equal(kv.createSequence([6, 7, 8, 9, 10]).cachedTokens, 2, 'b0 survived');
    kv.checkInvariants();
  });

  it('a prefix hit moves a block back out of the eviction list', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: 2 });
    const a = prefill(kv, [1, 2, 3]);
    const [a0] = kv.blockTable(a.seqId);
    kv.freeSequence(a.seqId);
    const b = kv.createSequence([1, 2, 9]);
    assert.equal(b.cachedTokens, 2);
    assert.deepEqual(kv.evictionOrder(), []);
    assert.equal(kv.canAdmit(8), false, 'a0 is held by b, 3 blocks left');
    assert.equal(kv.canAdmit(6), true);
    const c = kv.createSequence([5]);
    assert.ok(kv.ensureCapacity(c.seqId, 6));
    assert.ok(!kv.blockTable(c.seqId).includes(a0!));
    kv.checkInvariants();
  });

  it('keeps reference counts right across free and preempt, and recompute hits the cache', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const shared = [1, 2, 3, 4, 5, 6, 7, 8];
    const a = prefill(kv, [...shared, 10, 11]);
    const b = prefill(kv, [...shared, 20]);
    assert.equal(b.cachedTokens, 8);
    assert.equal(kv.stats().usedBlocks, 4); // 2 shared + 1 each
    kv.freeSequence(a.seqId);
    kv.checkInvariants();
    assert.equal(kv.stats().usedBlocks, 3, 'shared blocks stay referenced by b');
    assert.equal(kv.allFree(), false);
    // b generates 4 tokens, filling its third block, then is preempted.
    assert.ok(kv.ensureCapacity(b.seqId, 13));
    kv.appendTokens(b.seqId, [21, 22, 23, 24]);
    assert.equal(kv.computedTokens(b.seqId), 13);
    const computed = kv.preempt(b.seqId);
    assert.deepEqual(computed, [...shared, 20, 21, 22, 23, 24]);
    assert.equal(kv.hasSequence(b.seqId), false);
    assert.throws(() => kv.blockTable(b.seqId), invalidArgument);
    assert.throws(() => kv.freeSequence(b.seqId), invalidArgument, 'no double free');
    assert.equal(kv.allFree(), true);
    assert.equal(kv.stats().usedBlocks, 0);
    assert.equal(kv.stats().freeBlocks, 16);
    kv.checkInvariants();
    const again = kv.createSequence([...computed, 25]);
    assert.equal(again.cachedTokens, 12, 'recompute reuses every committed block');
    kv.checkInvariants();
  });

  it('pool exhaustion returns false and leaves the state untouched', () => {
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: 4 });
    const a = kv.createSequence([1, 2, 3]);
    assert.equal(kv.canAdmit(17), false);
    assert.equal(kv.ensureCapacity(a.seqId, 17), false);
    assert.equal(kv.blockTable(a.seqId).length, 0);
    assert.equal(kv.stats().freeBlocks, 4);
    assert.ok(kv.ensureCapacity(a.seqId, 12));
    const b = kv.createSequence([7]);
    assert.equal(kv.ensureCapacity(b.seqId, 5), false, 'needs 2 blocks, 1 left');
    assert.ok(kv.ensureCapacity(b.seqId, 4));
    assert.equal(kv.ensureCapacity(a.seqId, 13), false);
    assert.equal(kv.ensureCapacity(b.seqId, 4), true, 'already there');
    assert.equal(kv.stats().freeBlocks, 0);
    kv.checkInvariants();
    kv.appendTokens(a.seqId, [1, 2, 3]);
    assert.throws(() => kv.appendTokens(a.seqId, new Array(10).fill(5)), invalidArgument);
    assert.equal(kv.computedTokens(a.seqId), 3, 'a failed append records nothing');
    kv.freeSequence(a.seqId);
    kv.freeSequence(b.seqId);
    assert.ok(kv.allFree());
    kv.checkInvariants();
  });

  it('rejects bad input with typed errors and no state change', () => {
    assert.throws(() => new KvCacheManager({ numBlocks: 0, blockSize: 16 }), invalidArgument);
    assert.throws(() => new KvCacheManager({ numBlocks: 4, blockSize: 1.5 }), invalidArgument);
    assert.throws(() => new KvCacheManager({ numBlocks: 4, blockSize: 4, blocksize: 4 } as never), invalidArgument);
    assert.throws(() => new KvCacheManager(null as never), invalidArgument);
    const kv = new KvCacheManager({ numBlocks: 4, blockSize: 4 });
    assert.throws(() => kv.createSequence([]), invalidArgument);
    assert.throws(() => kv.createSequence([1, -1]), invalidArgument);
    assert.throws(() => kv.createSequence([1, 2.5]), invalidArgument);
    assert.throws(() => kv.createSequence('hello' as never), invalidArgument);
    assert.throws(() => kv.createSequence([2 ** 31]), invalidArgument);
    assert.equal(kv.stats().sequences, 0);
    const s = kv.createSequence(new Int32Array([1, 2]));
    assert.throws(() => kv.ensureCapacity(s.seqId, -1), invalidArgument);
    assert.throws(() => kv.ensureCapacity(99, 1), invalidArgument);
    assert.throws(() => kv.appendTokens(s.seqId, [Number.NaN]), invalidArgument);
    assert.throws(() => kv.canAdmit(-3), invalidArgument);
    assert.throws(() => kv.windowBlockTable(s.seqId, 0), invalidArgument);
    kv.checkInvariants();
  });

  const collidingHash: BlockHashFn = (_p, t, s) => String(t[s]! % 3); // every block under one of 3 keys
  const cases: [string, Partial<KvCacheManagerOptions>][] = [
    ['default hash', {}],
    ['a colliding hash', { hashBlock: collidingHash }],
    ['a local-layer pool, window 6', { localWindow: { windowSize: 6, numBlocks: 14 } }],
    ['a local-layer pool and a colliding hash', { hashBlock: collidingHash, localWindow: { windowSize: 9, numBlocks: 20 } }],
  ];
  for (const [name, extra] of cases) {
    it(`serves only correct KV over 2000 seeded random engine operations (${name})`, () => {
      const random = seededRandom(2024);
      const blockSize = 4;
      const kv = new KvCacheManager({ numBlocks: 40, blockSize, ...extra });
      const window = extra.localWindow?.windowSize;
      // Shadows of what each block would hold natively: the full token prefix that produced its KV.
      const written = new Map<number, string>();
      const writtenLocal = new Map<number, string>();
      const live: number[] = [];
      const prefixOf = (ids: number[], end: number): string => ids.slice(0, end).join(',');
      /** The step computing all[from ..]: checks the tables cover it, then "writes" its KV. */
      const step = (seqId: number, all: number[], from: number): void => {
        const table = kv.blockTable(seqId);
        const local = window === undefined ? undefined : kv.localBlockTable(seqId);
        if (local && window !== undefined) {
          const reads = windowBlockRange(from, all.length, window, blockSize);
          for (let i = reads.first; i < reads.end; i++) assert.notEqual(local[i], -1, 'local layers can read their window');
        }
        for (let index = Math.floor(from / blockSize); index * blockSize < all.length; index++) {
          const content = prefixOf(all, Math.min(all.length, (index + 1) * blockSize));
          written.set(table[index]!, content);
          if (local) writtenLocal.set(local[index]!, content);
        }
        kv.appendTokens(seqId, all.slice(from));
      };
      const tokensOf = new Map<number, number[]>();
      let hits = 0;
      let refusals = 0;
      for (let op = 0; op < 2000; op++) {
        const r = random();
        if (r < 0.3 || live.length === 0) {
          // A prompt built from a few recurring stems so that prefixes repeat.
          const stem = Math.floor(random() * 4);
          const prompt = Array.from({ length: 1 + Math.floor(random() * 14) },
            (_, i) => (i < 8 ? stem * 10 + i : Math.floor(random() * 3)));
          const { seqId, cachedTokens } = kv.createSequence(prompt);
          const table = kv.blockTable(seqId);
          const reused = cachedTokens / blockSize;
          for (let i = 0; i < reused; i++) {
            assert.equal(written.get(table[i]!), prefixOf(prompt, (i + 1) * blockSize), 'reused KV is this prefix');
          }
          if (window !== undefined) {
            const local = kv.localBlockTable(seqId);
            // The next query (position cachedTokens) reads the window before it from reused blocks.
            const reads = windowBlockRange(cachedTokens, cachedTokens + 1, window, blockSize);
            for (let i = reads.first; i < Math.min(reads.end, reused); i++) {
              assert.equal(writtenLocal.get(local[i]!), prefixOf(prompt, (i + 1) * blockSize), 'reused local KV too');
            }
          }
          if (cachedTokens > 0) hits++;
          if (!kv.ensureCapacity(seqId, prompt.length)) {
            refusals++;
            kv.freeSequence(seqId);
          } else {
            step(seqId, prompt, cachedTokens);
            tokensOf.set(seqId, prompt);
            live.push(seqId);
          }
        } else if (r < 0.75) {
          const seqId = live[Math.floor(random() * live.length)]!;
          const all = tokensOf.get(seqId)!;
          const count = 1 + Math.floor(random() * 3);
          if (!kv.ensureCapacity(seqId, all.length + count)) {
            refusals++;
            continue;
          }
          const from = all.length;
          all.push(...Array.from({ length: count }, () => Math.floor(random() * 3)));
          step(seqId, all, from);
        } else {
          const at = Math.floor(random() * live.length);
          const seqId = live.splice(at, 1)[0]!;
          if (r < 0.88) kv.freeSequence(seqId);
          else assert.deepEqual(kv.preempt(seqId), tokensOf.get(seqId));
          tokensOf.delete(seqId);
        }
        kv.checkInvariants();
      }
      assert.ok(hits > 50, `prefix hits happened (${hits})`);
      assert.ok(refusals > 0, 'the pools ran out at times');
      if (extra.hashBlock) assert.ok(kv.prefixCollisions > 0, 'collisions happened');
      for (const seqId of live) kv.freeSequence(seqId);
      assert.ok(kv.allFree());
      assert.equal(kv.stats().sequences, 0);
      kv.checkInvariants();
    });
  }
});
