/**
 * The optional second pool for GPT-Neo's local (sliding-window) layers; see window.ts for the design and
 * the memory it saves.
 *
 * With it, the main pool holds only global layers and this pool holds only local layers. A sequence's
 * local table has one slot per logical block, like its main block table, but only the slots local layers
 * can still read hold a block: once the next query is at position p, blocks entirely before
 * p − windowSize + 1 are released (so a decoding sequence holds at most `maxWindowBlocks` local blocks;
 * a prefill step transiently holds its whole chunk too). Released slots read -1.
 *
 * Prefix caching: each full local block is cached as the "companion" of the main pool's prefix-cache entry
 * for the same logical block (keyed by that entry's unique entryId, so the main cache's verification
 * covers it). A prefix hit of k blocks is usable only if the companions of the blocks in the window before
 * position k·blockSize are cached too; otherwise the hit is shortened to the longest prefix that has them.
 * When a main-pool entry is evicted, its companion can never be found again and goes back to the free
 * list; a companion evicted from this pool only shortens later hits.
 */
import { GptNeoError } from '../errors.js';
import { expectKnownKeys, expectObject, expectPositiveInteger } from '../validate.js';
import { BlockAllocator } from './block-allocator.js';

/** Options of the local-layer pool (`KvCacheManagerOptions.localWindow`). */
export interface LocalWindowOptions {
  /** Window of the local layers (GPT-Neo: `window_size`, 256). */
  windowSize: number;
  /** Blocks in the native local-layer pool (same block size as the main pool). */
  numBlocks: number;
}

/** A sequence's local-layer blocks, by logical block index. */
export interface LocalTable {
  /** Local block per logical block; -1 where local layers no longer read (or never held) it. */
  readonly blocks: number[];
  /** Every slot below this index is -1; every slot from it on holds a block. */
  first: number;
}

/** Gauges of the local-layer pool. */
export interface LocalPoolStats {
  numBlocks: number;
  windowSize: number;
  /** Blocks that can be allocated now (free or evictable). */
  freeBlocks: number;
  /** Blocks referenced by a live sequence. */
  usedBlocks: number;
  /** Blocks cached as companions of main-pool prefix entries (used or evictable). */
  cachedBlocks: number;
  /** Cached blocks nobody references. */
  evictableBlocks: number;
}

/** What `checkInvariants` needs to know about a live sequence. */
export interface LocalSequenceView {
  readonly seqId: number;
  readonly table: LocalTable;
  /** Tokens the sequence has computed (the next query position). */
  readonly position: number;
}

const NONE = -1;

export class LocalWindowPool {
  readonly windowSize: number;
  readonly blockSize: number;
  readonly numBlocks: number;
  private readonly allocator: BlockAllocator;
  /** Main-pool entryId → its cached local companion block. */
  private readonly companionOf = new Map<number, number>();
  /** Local block → the main-pool entryId it is the companion of (0: none). */
  private readonly entryOf: Float64Array;

  constructor(blockSize: number, options: LocalWindowOptions) {
    expectObject('localWindow', options);
    expectKnownKeys('localWindow', options as unknown as Record<string, unknown>, ['windowSize', 'numBlocks']);
    this.blockSize = expectPositiveInteger('blockSize', blockSize);
    this.windowSize = expectPositiveInteger('localWindow.windowSize', options.windowSize);
    this.numBlocks = expectPositiveInteger('localWindow.numBlocks', options.numBlocks);
    this.entryOf = new Float64Array(this.numBlocks);
    this.allocator = new BlockAllocator(this.numBlocks, { onEvict: (block) => this.unlinkCompanion(block) });
  }

  /** Blocks `grow` can still take. */
  get numAvailable(): number { return this.allocator.numAvailable; }

  /** First logical block that local layers read when the next query is at `position`. */
  firstLiveIndex(position: number): number {
    return Math.floor(Math.max(0, position - this.windowSize + 1) / this.blockSize);
  }

  /**
   * Given the main-pool entryIds of a matched prefix, the longest j ≤ their count whose window before
   * position j·blockSize has every companion cached (0 always qualifies).
   */
  usablePrefix(entryIds: readonly number[]): number {
    for (let j = entryIds.length; j > 0; j--) {
      let complete = true;
      for (let i = this.firstLiveIndex(j * this.blockSize); i < j && complete; i++) {
        complete = this.companionOf.has(entryIds[i]!);
      }
      if (complete) return j;
    }
    return 0;
  }

  /** A new sequence's table reusing the first `count` blocks of a prefix: references the companions it reads. */
  adoptPrefix(entryIds: readonly number[], count: number): LocalTable {
    const first = this.firstLiveIndex(count * this.blockSize);
    const blocks = new Array<number>(count).fill(NONE);
    for (let i = first; i < count; i++) {
      const block = this.companionOf.get(entryIds[i]!);
      if (block === undefined) {
        throw new GptNeoError('ERR_GPTNEO_INTERNAL', 'Adopting a prefix without its local blocks');
      }
      this.allocator.retain(block);
      blocks[i] = block;
    }
    return { blocks, first: Math.min(first, count) };
  }

  /** Appends `count` new blocks to the table; the caller has checked `numAvailable`. */
  grow(table: LocalTable, count: number): void {
    for (let i = 0; i < count; i++) {
      const block = this.allocator.allocate();
      if (block === undefined) {
        throw new GptNeoError('ERR_GPTNEO_INTERNAL', 'Local block pool ran dry after a capacity check');
      }
      table.blocks.push(block);
    }
  }

  /** Caches the table's full block at `index` as the companion of main-pool entry `entryId`, unless it has one. */
  commit(table: LocalTable, index: number, entryId: number): void {
    const block = table.blocks[index]!;
    if (block === NONE || this.entryOf[block] !== 0 || this.companionOf.has(entryId)) return;
    this.companionOf.set(entryId, block);
    this.entryOf[block] = entryId;
    this.allocator.markCached(block);
  }

  /** Releases the blocks that local layers no longer read once the next query is at `position`. */
  dropOutOfWindow(table: LocalTable, position: number): void {
    const live = Math.min(this.firstLiveIndex(position), table.blocks.length);
    for (; table.first < live; table.first++) {
      this.allocator.release(table.blocks[table.first]!);
      table.blocks[table.first] = NONE;
    }
  }

  /** Releases every block the table holds, last first (deepest blocks become the first to evict). */
  releaseAll(table: LocalTable): void {
    for (let i = table.blocks.length - 1; i >= table.first; i--) {
      this.allocator.release(table.blocks[i]!);
      table.blocks[i] = NONE;
    }
    table.first = table.blocks.length;
  }

  /** The main-pool entry was evicted: its companion can never be matched again, so stop caching it. */
  forgetEntry(entryId: number): void {
    const block = this.companionOf.get(entryId);
    if (block === undefined) return;
    this.unlinkCompanion(block);
    this.allocator.uncache(block);
  }

  /** Current gauges. */
  stats(): LocalPoolStats {
    return {
      numBlocks: this.numBlocks,
      windowSize: this.windowSize,
      freeBlocks: this.allocator.numAvailable,
      usedBlocks: this.allocator.numUsed,
      cachedBlocks: this.companionOf.size,
      evictableBlocks: this.allocator.numEvictable,
    };
  }

  /** True when no local block is referenced by a live sequence. */
  allFree(): boolean { return this.allocator.numUsed === 0; }

  /**
   * Verifies the allocator, the companion index, and that each live sequence holds exactly the blocks its
   * window needs: slots [min(firstLiveIndex(position), length), length). Throws ERR_GPTNEO_INTERNAL.
   */
  checkInvariants(sequences: Iterable<LocalSequenceView>): void {
    this.allocator.checkInvariants();
    const fail = (what: string): never => {
      throw new GptNeoError('ERR_GPTNEO_INTERNAL', `LocalWindowPool invariant broken: ${what}`);
    };
    const references = new Int32Array(this.numBlocks);
    for (const { seqId, table, position } of sequences) {
      const expectedFirst = Math.min(this.firstLiveIndex(position), table.blocks.length);
      if (table.first !== expectedFirst) {
        fail(`sequence ${seqId} starts its window at ${table.first}, not ${expectedFirst}`);
      }
      for (let i = 0; i < table.blocks.length; i++) {
        const block = table.blocks[i]!;
        if ((block === NONE) !== (i < table.first)) fail(`sequence ${seqId} slot ${i} holds ${block}`);
        if (block !== NONE) references[block]!++;
      }
    }
    for (let b = 0; b < this.numBlocks; b++) {
      if (references[b] !== this.allocator.refCount(b)) {
        fail(`block ${b} has ${references[b]} references but reference count ${this.allocator.refCount(b)}`);
      }
      const entryId = this.entryOf[b]!;
      if ((entryId !== 0) !== this.allocator.isCached(b)) fail(`block ${b}: companion index and allocator disagree`);
      if (entryId !== 0 && this.companionOf.get(entryId) !== b) {
        fail(`block ${b} is not the companion of entry ${entryId}`);
      }
    }
    for (const [entryId, block] of this.companionOf) {
      if (this.entryOf[block] !== entryId) fail(`entry ${entryId} points at block ${block}, not its companion`);
    }
  }

  private unlinkCompanion(block: number): void {
    const entryId = this.entryOf[block]!;
    if (entryId === 0) return;
    this.companionOf.delete(entryId);
    this.entryOf[block] = 0;
  }
}
