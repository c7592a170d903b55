/**
 * Reference-counted allocator over the blocks of one KV pool.
 *
 * Every block is in exactly one of three states:
 *
 * - free: on the free list, holds nothing worth keeping;
 * - used: referenced by at least one live sequence (`refCount(block) >= 1`);
 * - evictable: referenced by nobody, but marked cached (its KV is a reusable prefix), so it waits in an
 *   LRU list instead of the free list. A later prefix hit can revive it with `retain`; when the free
 *   list is empty, `allocate` takes the least recently released evictable block and reports it through
 *   `onEvict` so the prefix cache forgets it.
 *
 * All operations are O(1). The allocator never touches KV memory: native code owns the pool, this class
 * owns only the bookkeeping of which block ids are taken.
 */
import { GptNeoError } from '../errors.js';
import { expectInteger, expectPositiveInteger } from '../validate.js';

/** Options of {@link BlockAllocator}. */
export interface BlockAllocatorOptions {
  /** Called when `allocate` reclaims an evictable block, before the block is handed out again. */
  onEvict?: (block: number) => void;
}

const FREE = 0;
const USED = 1;
const EVICTABLE = 2;
const NONE = -1;

export class BlockAllocator {
  /** Number of blocks in the pool; block ids are `0 .. numBlocks - 1`. */
  readonly numBlocks: number;
  private readonly onEvict: ((block: number) => void) | undefined;
  private readonly refCounts: Int32Array;
  private readonly states: Uint8Array;
  private readonly cachedFlags: Uint8Array;
  /** Free list as a stack: `freeStack[0 .. freeTop)`. */
  private readonly freeStack: Int32Array;
  private freeTop: number;
  /** Doubly linked LRU list of evictable blocks: head = least recently released. */
  private readonly lruPrev: Int32Array;
  private readonly lruNext: Int32Array;
  private lruHead = NONE;
  private lruTail = NONE;
  private evictableCount = 0;
  private usedCount = 0;

  constructor(numBlocks: number, options: BlockAllocatorOptions = {}) {
    this.numBlocks = expectPositiveInteger('numBlocks', numBlocks);
    this.onEvict = options.onEvict;
    this.refCounts = new Int32Array(numBlocks);
    this.states = new Uint8Array(numBlocks);
    this.cachedFlags = new Uint8Array(numBlocks);
    this.freeStack = new Int32Array(numBlocks);
    // Push in reverse so that a fresh allocator hands out 0, 1, 2, … (easier to read in tests and dumps).
    for (let i = 0; i < numBlocks; i++) this.freeStack[i] = numBlocks - 1 - i;
    this.freeTop = numBlocks;
    this.lruPrev = new Int32Array(numBlocks).fill(NONE);
    this.lruNext = new Int32Array(numBlocks).fill(NONE);
  }

  /** Blocks on the free list (not counting evictable cached blocks). */
  get numFree(): number { return this.freeTop; }
  /** Blocks referenced by at least one sequence. */
  get numUsed(): number { return this.usedCount; }
  /** Unreferenced cached blocks that `allocate` may reclaim. */
  get numEvictable(): number { return this.evictableCount; }
  /** Blocks `allocate` can still hand out: free plus evictable. */
  get numAvailable(): number { return this.freeTop + this.evictableCount; }

  /**
   * Takes a block with reference count 1: from the free list if it has one, else by evicting the least
   * recently released cached block. Returns undefined when every block is in use.
   */
  allocate(): number | undefined {
    let block: number;
    if (this.freeTop > 0) {
      block = this.freeStack[--this.freeTop]!;
    } else if (this.lruHead !== NONE) {
      block = this.lruHead;
      this.unlinkLru(block);
      this.cachedFlags[block] = 0;
      this.onEvict?.(block);
    } else {
      return undefined;
    }
    this.states[block] = USED;
    this.refCounts[block] = 1;
    this.usedCount++;
    return block;
  }

  /** Adds a reference to a used block, or revives an evictable one (reference count 0 → 1). */
  retain(block: number): void {
    this.checkBlock('block', block);
    const state = this.states[block];
    if (state === FREE) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT', `Cannot retain block ${block}: it is free`);
    }
    if (state === EVICTABLE) {
      this.unlinkLru(block);
      this.states[block] = USED;
      this.usedCount++;
    }
    this.refCounts[block]!++;
  }

  /**
   * Drops one reference and returns the count left. At zero the block goes to the evictable LRU list
   * when it is marked cached, else back to the free list.
   */
  release(block: number): number {
    this.checkBlock('block', block);
    if (this.states[block] !== USED) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
        `Cannot release block ${block}: it is not referenced`);
    }
    const left = --this.refCounts[block]!;
    if (left === 0) {
      this.usedCount--;
      if (this.cachedFlags[block]) {
        this.states[block] = EVICTABLE;
        this.appendLru(block);
      } else {
        this.states[block] = FREE;
        this.freeStack[this.freeTop++] = block;
      }
    }
    return left;
  }

  /** Marks a used block as holding reusable prefix KV: at reference count 0 it becomes evictable, not free. */
  markCached(block: number): void {
    this.checkBlock('block', block);
    if (this.states[block] !== USED) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
        `Cannot mark block ${block} as cached: it is not referenced`);
    }
    this.cachedFlags[block] = 1;
  }

  /**
   * Clears a block's cached mark because its content can no longer be found: an evictable block goes
   * straight to the free list, a used one will be freed (not parked) when its last reference goes.
   */
  uncache(block: number): void {
    this.checkBlock('block', block);
    this.cachedFlags[block] = 0;
    if (this.states[block] === EVICTABLE) {
      this.unlinkLru(block);
      this.states[block] = FREE;
      this.freeStack[this.freeTop++] = block;
    }
  }

  /** Whether the block is marked cached (used or evictable). */
  isCached(block: number): boolean {
    this.checkBlock('block', block);
    return this.cachedFlags[block] === 1;
  }

  /** Current reference count of a block (0 when free or evictable). */
  refCount(block: number): number {
    this.checkBlock('block', block);
    return this.refCounts[block]!;
  }

  /** Evictable blocks from least to most recently released (the order `allocate` reclaims them). */
  evictionOrder(): number[] {
    const out: number[] = [];
    for (let b = this.lruHead; b !== NONE; b = this.lruNext[b]!) out.push(b);
    return out;
  }

  /**
   * Verifies every internal invariant and throws ERR_GPTNEO_INTERNAL naming the first one broken:
   * each block is in exactly one state; free blocks appear once on the free list with count 0 and no
   * cached mark; evictable blocks appear once in the LRU list, are cached, and have count 0; used blocks
   * have count >= 1; the counters match. O(numBlocks); meant for tests and debugging.
   */
  checkInvariants(): void {
    const fail = (what: string): never => {
      throw new GptNeoError('ERR_GPTNEO_INTERNAL', `BlockAllocator invariant broken: ${what}`);
    };
    const seen = new Uint8Array(this.numBlocks);
    if (this.freeTop < 0 || this.freeTop > this.numBlocks) fail(`free list size ${this.freeTop}`);
    for (let i = 0; i < this.freeTop; i++) {
      const b = this.freeStack[i]!;
      if (b < 0 || b >= this.numBlocks) fail(`free list holds out-of-range id ${b}`);
      if (seen[b]) fail(`block ${b} is on the free list twice`);
      seen[b] = 1;
      if (this.states[b] !== FREE) fail(`block ${b} is on the free list but not free`);
    }
    let evictable = 0;
    let prev = NONE;
    for (let b = this.lruHead; b !== NONE; b = this.lruNext[b]!) {
      if (seen[b]) fail(`block ${b} is listed twice (free list / LRU)`);
      seen[b] = 1;
      if (this.states[b] !== EVICTABLE) fail(`block ${b} is in the LRU list but not evictable`);
      if (this.lruPrev[b] !== prev) fail(`LRU back link of block ${b} is wrong`);
      prev = b;
      if (++evictable > this.numBlocks) fail('LRU list has a cycle');
    }
    if (prev !== this.lruTail) fail('LRU tail is wrong');
    if (evictable !== this.evictableCount) fail(`evictable count ${this.evictableCount} != ${evictable}`);
    let used = 0;
    for (let b = 0; b < this.numBlocks; b++) {
      const state = this.states[b];
      const count = this.refCounts[b]!;
      if (state === USED) {
        used++;
        if (seen[b]) fail(`used block ${b} is also listed as free or evictable`);
        if (count < 1) fail(`used block ${b} has reference count ${count}`);
      } else {
        if (!seen[b]) fail(`block ${b} is neither used, free nor evictable (leaked)`);
        if (count !== 0) fail(`unreferenced block ${b} has reference count ${count}`);
        if (state === FREE && this.cachedFlags[b]) fail(`free block ${b} is marked cached`);
        if (state === EVICTABLE && !this.cachedFlags[b]) fail(`evictable block ${b} is not marked cached`);
      }
    }
    if (used !== this.usedCount) fail(`used count ${this.usedCount} != ${used}`);
  }

  private checkBlock(name: string, block: number): void {
    expectInteger(name, block, 0, this.numBlocks - 1);
  }

  private appendLru(block: number): void {
    this.lruPrev[block] = this.lruTail;
    this.lruNext[block] = NONE;
    if (this.lruTail === NONE) this.lruHead = block;
    else this.lruNext[this.lruTail] = block;
    this.lruTail = block;
    this.evictableCount++;
  }

  private unlinkLru(block: number): void {
    const prev = this.lruPrev[block]!;
    const next = this.lruNext[block]!;
    if (prev === NONE) this.lruHead = next;
    else this.lruNext[prev] = next;
    if (next === NONE) this.lruTail = prev;
    else this.lruPrev[next] = prev;
    this.lruPrev[block] = NONE;
    this.lruNext[block] = NONE;
    this.evictableCount--;
  }
}
