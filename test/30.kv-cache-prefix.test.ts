import assert from 'node:assert/strict';
import { type BlockHashFn, KvCacheManager, PrefixCache, ROOT_LINK } from '../lib/kv-cache/index.js';
import { prefill } from './helpers/kv.js';

const range = (from: number, count: number): number[] => Array.from({ length: count }, (_, i) => from + i);

/** A hash that ignores the parent key: equal block contents collide at every depth. */
const contentOnlyHash: BlockHashFn = (_parent, tokens, start, end) => {
  let sum = 0;
  for (let i = start; i < end; i++) sum += tokens[i]!;
  return String(sum);
};
/** The weakest hash: every block collides with every other. */
const constantHash: BlockHashFn = () => 'x';

describe('kv-cache: prefix caching', () => {
  it('two sequences sharing 2.5 blocks share exactly 2 blocks', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const shared = range(1, 10); // 2.5 blocks
    const a = prefill(kv, [...shared, 100, 101, 102]);
    assert.equal(a.cachedTokens, 0);
    const b = prefill(kv, [...shared, 200, 201, 202, 203]);
    assert.equal(b.cachedTokens, 8);
    const ta = kv.blockTable(a.seqId);
    const tb = kv.blockTable(b.seqId);
    assert.deepEqual([...tb.slice(0, 2)], [...ta.slice(0, 2)]);
    assert.equal(new Set([...ta, ...tb]).size, ta.length + tb.length - 2, 'nothing else is shared');
    assert.equal(kv.computedTokens(b.seqId), 14);
    const s = kv.stats();
    assert.equal(s.prefixQueries, 2);
    assert.equal(s.prefixHits, 1);
    assert.equal(s.hitTokens, 8);
    assert.equal(s.usedBlocks, ta.length + tb.length - 2);
  });

  it('a fully cached prompt still leaves at least one token to compute', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const prompt = range(1, 12); // exactly 3 blocks
    prefill(kv, prompt);
    assert.equal(kv.createSequence(prompt).cachedTokens, 8, 'floor((12 - 1) / 4) = 2 blocks');
    assert.equal(kv.createSequence([...prompt, 13]).cachedTokens, 12);
    assert.equal(kv.createSequence(range(1, 4)).cachedTokens, 0, 'a one-block prompt computes its block');
    assert.equal(kv.createSequence([1]).cachedTokens, 0);
    kv.checkInvariants();
  });

  it('recomputing a cached block leaves the cached copy in charge and the duplicate uncached', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const prompt = range(1, 8);
    const a = prefill(kv, prompt);
    const b = prefill(kv, prompt); // reuses block 0, recomputes block 1
    assert.equal(b.cachedTokens, 4);
    assert.equal(kv.stats().cachedBlocks, 2);
    kv.freeSequence(b.seqId);
    kv.freeSequence(a.seqId);
    assert.equal(kv.stats().cachedBlocks, 2);
    assert.equal(kv.stats().evictableBlocks, 2, 'the duplicate went back to the free list');
    assert.equal(kv.createSequence([...prompt, 9]).cachedTokens, 8);
    kv.checkInvariants();
  });

  it('keys are chained: the same block content after another prefix is not a hit', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const x = [1, 2, 3, 4];
    const y = [5, 6, 7, 8];
    const z = [9, 9, 9, 9];
    prefill(kv, [...x, ...y, 0]);
    assert.equal(kv.createSequence([...z, ...y, 0]).cachedTokens, 0);
    assert.equal(kv.createSequence([...y, 0]).cachedTokens, 0, 'y at the root was never computed there');
    assert.equal(kv.createSequence([...x, ...y, 1]).cachedTokens, 8);
  });

  it('chaining holds even when the hash ignores the parent (parent entries are verified)', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4, hashBlock: contentOnlyHash });
    const x = [1, 2, 3, 4];
    const y = [5, 6, 7, 8];
    prefill(kv, [...x, ...y, 0]);
    assert.equal(kv.createSequence([...y, ...y, 0]).cachedTokens, 0);
    assert.ok(kv.prefixCollisions > 0, 'the lookup met the colliding entry and rejected it');
    assert.equal(kv.createSequence([...x, ...y, 0]).cachedTokens, 8);
    kv.checkInvariants();
  });

  it('a hash collision never reuses wrong KV (every block under one key)', () => {
    const kv = new KvCacheManager({ numBlocks: 64, blockSize: 4, hashBlock: constantHash });
    const p1 = [1, 2, 3, 4, 5, 6, 7, 8, 0];
    const p2 = [1, 2, 3, 4, 8, 7, 6, 5, 0];
    const p3 = [4, 3, 2, 1, 5, 6, 7, 8, 0];
    const s1 = prefill(kv, p1);
    const s2 = prefill(kv, p2);
    const s3 = prefill(kv, p3);
    assert.deepEqual([s1.cachedTokens, s2.cachedTokens, s3.cachedTokens], [0, 4, 0]);
    assert.ok(kv.prefixCollisions > 0);
    // Every prompt still finds exactly its own prefix among the colliding entries.
    const again = [p1, p2, p3].map((p) => kv.createSequence(p));
    assert.deepEqual(again.map((s) => s.cachedTokens), [8, 8, 8]);
    const t1 = kv.blockTable(s1.seqId);
    const t2 = kv.blockTable(s2.seqId);
    const t3 = kv.blockTable(s3.seqId);
    assert.deepEqual([...kv.blockTable(again[0]!.seqId)], [...t1.slice(0, 2)]);
    assert.deepEqual([...kv.blockTable(again[1]!.seqId)], [t1[0], t2[1]]);
    assert.deepEqual([...kv.blockTable(again[2]!.seqId)], [...t3.slice(0, 2)]);
    kv.checkInvariants();
  });

  it('an evicted parent’s entry dies: a reused block id never revives its old children', () => {
    const cache = new PrefixCache(8, 2, contentOnlyHash);
    const tokens = [1, 2, 3, 4];
    const parent = cache.insert(0, ROOT_LINK, tokens, 0);
    cache.insert(1, parent.link, tokens, 2);
    assert.equal(cache.find(parent.link, tokens, 2)?.block, 1);
    cache.remove(0); // evicted; block 0 is handed out again and now holds other tokens at the root
    const other = [2, 1];
    const reborn = cache.insert(0, ROOT_LINK, other, 0);
    assert.notEqual(reborn.link.entryId, parent.link.entryId);
    assert.equal(cache.find(reborn.link, tokens, 2), undefined, 'old child of block 0 is unreachable');
    assert.equal(cache.find(ROOT_LINK, tokens, 0), undefined);
    cache.checkInvariants();
  });

  it('reusePrefix: false computes every token but still caches the blocks for later prompts', () => {
    const kv = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const prompt = range(1, 9);
    prefill(kv, prompt);
    const full = kv.createSequence(prompt, { reusePrefix: false });
    assert.equal(full.cachedTokens, 0);
    assert.equal(kv.stats().prefixQueries, 1, 'no lookup was made');
    assert.ok(kv.ensureCapacity(full.seqId, 9));
    kv.appendTokens(full.seqId, prompt);
    kv.checkInvariants();
    const fresh = new KvCacheManager({ numBlocks: 16, blockSize: 4 });
    const f = fresh.createSequence(prompt, { reusePrefix: false });
    assert.ok(fresh.ensureCapacity(f.seqId, 9));
    fresh.appendTokens(f.seqId, prompt);
    fresh.freeSequence(f.seqId);
    assert.equal(fresh.createSequence(prompt).cachedTokens, 8);
    assert.throws(() => kv.createSequence(prompt, { reusePrefix: 'no' as never }),
      (e: unknown) => e instanceof Error && /reusePrefix/.test(e.message));
    assert.throws(() => kv.createSequence(prompt, { reuse: false } as never),
      (e: unknown) => e instanceof Error && /Unknown option options.reuse/.test(e.message));
  });

  it('prefix caching can be switched off', () => {
    const kv = new KvCacheManager({ numBlocks: 8, blockSize: 4, prefixCaching: false });
    const prompt = range(1, 9);
    const a = prefill(kv, prompt);
    assert.equal(prefill(kv, prompt).cachedTokens, 0);
    kv.freeSequence(a.seqId);
    const s = kv.stats();
    assert.deepEqual([s.cachedBlocks, s.evictableBlocks, s.prefixQueries], [0, 0, 0]);
  });
});
