import assert from 'node:assert/strict';
import { isGptNeoError } from '../lib/errors.js';
import { BlockAllocator, fnv1a64, fnv1a64BlockHash } from '../lib/kv-cache/index.js';
import { seededRandom } from './helpers/kv.js';

const invalidArgument = (e: unknown): boolean => isGptNeoError(e, 'ERR_GPTNEO_INVALID_ARGUMENT');

describe('kv-cache: BlockAllocator', () => {
  it('hands out every block once, then undefined', () => {
    const a = new BlockAllocator(4);
    assert.deepEqual([a.allocate(), a.allocate(), a.allocate(), a.allocate()], [0, 1, 2, 3]);
    assert.equal(a.allocate(), undefined);
    assert.equal(a.numFree, 0);
    assert.equal(a.numUsed, 4);
    a.checkInvariants();
  });

  it('counts references: a block returns to the free list only at zero', () => {
    const a = new BlockAllocator(2);
    const b = a.allocate()!;
    a.retain(b);
    assert.equal(a.refCount(b), 2);
    assert.equal(a.release(b), 1);
    assert.equal(a.numFree, 1);
    assert.equal(a.release(b), 0);
    assert.equal(a.numFree, 2);
    assert.equal(a.numUsed, 0);
    a.checkInvariants();
  });

  it('rejects double release, retaining a free block and bad ids without changing state', () => {
    const a = new BlockAllocator(3);
    const b = a.allocate()!;
    a.release(b);
    assert.throws(() => a.release(b), invalidArgument);
    assert.throws(() => a.retain(b), invalidArgument);
    for (const bad of [-1, 3, 1.5, Number.NaN, '0' as unknown as number]) {
      assert.throws(() => a.release(bad), invalidArgument);
      assert.throws(() => a.retain(bad), invalidArgument);
    }
    assert.throws(() => a.markCached(b), invalidArgument);
    assert.equal(a.numFree, 3);
    a.checkInvariants();
    assert.throws(() => new BlockAllocator(0), invalidArgument);
  });

  it('parks cached blocks as evictable and reclaims them least recently released first', () => {
    const evicted: number[] = [];
    const a = new BlockAllocator(3, { onEvict: (b) => evicted.push(b) });
    const [x, y, z] = [a.allocate()!, a.allocate()!, a.allocate()!];
    a.markCached(x);
    a.markCached(y);
    a.release(y);
    a.release(x);
    a.release(z); // uncached: back to the free list
    assert.equal(a.numFree, 1);
    assert.equal(a.numEvictable, 2);
    assert.equal(a.numAvailable, 3);
    assert.deepEqual(a.evictionOrder(), [y, x]);
    a.checkInvariants();
    assert.equal(a.allocate(), z, 'the free list is used before any eviction');
    assert.deepEqual(evicted, []);
    assert.equal(a.allocate(), y);
    assert.deepEqual(evicted, [y]);
    assert.equal(a.isCached(y), false, 'an evicted block loses its cached mark');
    a.retain(x); // a prefix hit revives x: no longer evictable
    assert.equal(a.numEvictable, 0);
    assert.equal(a.refCount(x), 1);
    assert.equal(a.allocate(), undefined);
    assert.deepEqual(evicted, [y]);
    a.checkInvariants();
  });

  it('keeps its invariants over 5000 seeded random operations', () => {
    const random = seededRandom(12345);
    const n = 48;
    const evicted: number[] = [];
    const a = new BlockAllocator(n, { onEvict: (b) => evicted.push(b) });
    const expectedRefs = new Map<number, number>(); // referenced blocks only
    const expectedCached = new Set<number>();
    for (let op = 0; op < 5000; op++) {
      const r = random();
      const held = [...expectedRefs.keys()];
      if (r < 0.4) {
        const b = a.allocate();
        const possible = n - expectedRefs.size;
        if (possible === 0) assert.equal(b, undefined);
        else {
          assert.notEqual(b, undefined);
          assert.equal(expectedRefs.has(b!), false, `allocate returned referenced block ${b}`);
          if (expectedCached.has(b!)) {
            assert.equal(evicted.at(-1), b, 'a reclaimed cached block is reported');
            expectedCached.delete(b!);
          }
          expectedRefs.set(b!, 1);
        }
      } else if (r < 0.55 && held.length > 0) {
        const b = held[Math.floor(random() * held.length)]!;
        a.retain(b);
        expectedRefs.set(b, expectedRefs.get(b)! + 1);
      } else if (r < 0.65 && expectedCached.size > 0) {
        const parked = [...expectedCached].filter((b) => !expectedRefs.has(b));
        if (parked.length > 0) {
          const b = parked[Math.floor(random() * parked.length)]!;
          a.retain(b);
          expectedRefs.set(b, 1);
        }
      } else if (r < 0.72 && held.length > 0) {
        const b = held[Math.floor(random() * held.length)]!;
        a.markCached(b);
        expectedCached.add(b);
      } else if (held.length > 0) {
        const b = held[Math.floor(random() * held.length)]!;
        const left = expectedRefs.get(b)! - 1;
        assert.equal(a.release(b), left);
        if (left === 0) expectedRefs.delete(b);
        else expectedRefs.set(b, left);
      }
      a.checkInvariants();
      assert.equal(a.numUsed, expectedRefs.size);
      const parked = [...expectedCached].filter((b) => !expectedRefs.has(b)).length;
      assert.equal(a.numEvictable, parked);
      assert.equal(a.numFree, n - expectedRefs.size - parked);
      for (const [b, count] of expectedRefs) assert.equal(a.refCount(b), count);
    }
    assert.ok(evicted.length > 0, 'the random walk exercised eviction');
  });
});

describe('kv-cache: block hash', () => {
  it('matches the published 64-bit FNV-1a vectors', () => {
    const bytes = (s: string): number[] => [...Buffer.from(s, 'latin1')];
    assert.equal(fnv1a64([]), 'cbf29ce484222325');
    assert.equal(fnv1a64(bytes('a')), 'af63dc4c8601ec8c');
    assert.equal(fnv1a64(bytes('foobar')), '85944171f73967e8');
    const all = Array.from({ length: 768 }, (_, i) => i & 0xff);
    assert.equal(fnv1a64(all), '4f33c513c2e95c25'); // from a Python big-integer reference
  });

  it('depends on the parent key, every token and the token order', () => {
    const tokens = [1, 2, 3, 4, 50256, 0x7fffffff];
    const base = fnv1a64BlockHash('', tokens, 0, 6);
    assert.match(base, /^[0-9a-f]{16}$/);
    assert.equal(fnv1a64BlockHash('', tokens, 0, 6), base, 'deterministic');
    assert.notEqual(fnv1a64BlockHash(base, tokens, 0, 6), base);
    assert.notEqual(fnv1a64BlockHash('', [1, 2, 3, 4, 50256, 0x7ffffffe], 0, 6), base);
    assert.notEqual(fnv1a64BlockHash('', [2, 1, 3, 4, 50256, 0x7fffffff], 0, 6), base);
    assert.equal(fnv1a64BlockHash('', [9, ...tokens], 1, 7), base, 'only tokens[start, end) count');
  });
});
