/**
 * The paged KV cache as the engine sees it: sequences, their block tables, and automatic prefix
 * caching over one native pool of `numBlocks` blocks of `blockSize` tokens (every layer of a block
 * lives together in the pool, so one block table serves all layers).
 *
 * Life of a sequence:
 *
 * 1. `createSequence(promptIds)` matches the prompt against the prefix cache and takes a reference on
 *    each matched block; `cachedTokens` prompt tokens need no compute. At most
 *    floor((promptLength − 1) / blockSize) blocks are reused, so the last prompt token is always
 *    computed (its logits are needed) and a reused block is never written.
 * 2. Before each step, `ensureCapacity(seqId, totalTokens)` makes room for the tokens the step will
 *    compute (all or nothing; false when the pool cannot supply them — wait or preempt).
 * 3. After the step, `appendTokens(seqId, ids)` records the ids whose KV is now computed; every block
 *    that becomes full is committed to the prefix cache.
 * 4. `freeSequence(seqId)` or `preempt(seqId)` releases every block. Committed blocks stay cached
 *    (evictable, LRU) so a later prompt — or the preempted sequence's recompute — can hit them. Blocks
 *    are released last-first, so a sequence's deepest blocks are evicted before its shallower ones
 *    (a child is useless without its parent).
 *
 * Only full blocks are ever shared, so no copy-on-write is needed.
 */
import { GptNeoError } from '../errors.js';
import { expectBoolean, expectInteger, expectKnownKeys, expectNonNegativeInteger, expectObject,
  expectPositiveInteger, invalid } from '../validate.js';
import { BlockAllocator } from './block-allocator.js';
import type { BlockHashFn } from './block-hash.js';
import { type PrefixLink, PrefixCache, ROOT_LINK } from './prefix-cache.js';
import { windowBlockRange } from './window.js';

/** Options of {@link KvCacheManager}. */
export interface KvCacheManagerOptions {
  /** Blocks in the native pool. */
  numBlocks: number;
  /** Tokens per block (e.g. 16). */
  blockSize: number;
  /** Reuse KV of equal prompt prefixes across sequences (default true). */
  prefixCaching?: boolean;
  /** Block hash for the prefix cache (default 64-bit FNV-1a); hits are verified whatever it returns. */
  hashBlock?: BlockHashFn;
}

/** Result of {@link KvCacheManager.createSequence}. */
export interface CreatedSequence {
  /** Handle for every other call. */
  seqId: number;
  /** Leading prompt tokens whose KV came from the prefix cache: compute from this position on. */
  cachedTokens: number;
}

/** Counters and gauges of a {@link KvCacheManager}. */
export interface KvCacheStats {
  numBlocks: number;
  blockSize: number;
  /** Blocks that can be allocated now: on the free list or evictable. */
  freeBlocks: number;
  /** Blocks referenced by at least one live sequence. */
  usedBlocks: number;
  /** Blocks registered in the prefix cache (used or evictable). */
  cachedBlocks: number;
  /** Cached blocks nobody references (part of freeBlocks; reclaimed LRU when the free list runs dry). */
  evictableBlocks: number;
  /** Live sequences. */
  sequences: number;
  /** createSequence calls that reused at least one block. */
  prefixHits: number;
  /** createSequence calls (each is one prefix-cache lookup). */
  prefixQueries: number;
  /** Prompt tokens served from the prefix cache, summed over all lookups. */
  hitTokens: number;
  /** Prompt tokens that lookups could have served (the reusable part of each prompt), summed. */
  queryTokens: number;
}

/** Where a sequence's local-attention layers read: a slice of its block table. */
export interface WindowBlockTable {
  /** Logical index (in the full block table) of `blocks[0]`. */
  firstBlockIndex: number;
  /** Block ids for logical indices `firstBlockIndex ..`. */
  blocks: Int32Array;
}

interface SequenceState {
  /** Block ids in position order. */
  readonly blocks: number[];
  /** Token ids whose KV is computed, in position order. */
  readonly tokens: number[];
  /** Leading full blocks already committed (or reused from the cache). */
  committedBlocks: number;
  /** Prefix-cache link of the last committed block; undefined when prefix caching is off. */
  link: PrefixLink | undefined;
}

const MAX_TOKEN_ID = 0x7fff_ffff;

export class KvCacheManager {
  readonly numBlocks: number;
  readonly blockSize: number;
  readonly prefixCaching: boolean;
  private readonly allocator: BlockAllocator;
  private readonly cache: PrefixCache;
  private readonly sequences = new Map<number, SequenceState>();
  private nextSeqId = 0;
  private prefixHits = 0;
  private prefixQueries = 0;
  private hitTokens = 0;
  private queryTokens = 0;

  constructor(options: KvCacheManagerOptions) {
    expectObject('options', options);
    expectKnownKeys('options', options as unknown as Record<string, unknown>,
      ['numBlocks', 'blockSize', 'prefixCaching', 'hashBlock']);
    this.numBlocks = expectPositiveInteger('numBlocks', options.numBlocks);
    this.blockSize = expectPositiveInteger('blockSize', options.blockSize);
    this.prefixCaching = options.prefixCaching === undefined ? true
      : expectBoolean('prefixCaching', options.prefixCaching);
    if (options.hashBlock !== undefined && typeof options.hashBlock !== 'function') {
      throw invalid('function', 'hashBlock', options.hashBlock);
    }
    this.cache = new PrefixCache(this.numBlocks, this.blockSize, options.hashBlock);
    this.allocator = new BlockAllocator(this.numBlocks, { onEvict: (block) => this.cache.remove(block) });
  }

  /**
   * Starts a sequence: reuses the longest cached prefix of `promptIds` (whole blocks, leaving at least
   * the last prompt token to compute) and takes a reference on each reused block.
   * `reusePrefix: false` skips the lookup, for callers that need every token computed (a full
   * forward pass that returns every row).
   */
  createSequence(promptIds: ArrayLike<number>, options: { reusePrefix?: boolean } = {}): CreatedSequence {
    const prompt = checkTokenIds('promptIds', promptIds);
    if (prompt.length === 0) throw invalid('non-empty array of token ids', 'promptIds', promptIds);
    const state: SequenceState = { blocks: [], tokens: [], committedBlocks: 0, link: undefined };
    if (this.prefixCaching && options.reusePrefix !== false) {
      const reusable = Math.floor((prompt.length - 1) / this.blockSize);
      let link = ROOT_LINK;
      for (let i = 0; i < reusable; i++) {
        const match = this.cache.find(link, prompt, i * this.blockSize);
        if (!match) break;
        this.allocator.retain(match.block);
        state.blocks.push(match.block);
        link = match.link;
      }
      state.link = link;
      state.committedBlocks = state.blocks.length;
      const cachedTokens = state.blocks.length * this.blockSize;
      for (let i = 0; i < cachedTokens; i++) state.tokens.push(prompt[i]!);
      this.prefixQueries++;
      this.queryTokens += reusable * this.blockSize;
      this.hitTokens += cachedTokens;
      if (cachedTokens > 0) this.prefixHits++;
    }
    const seqId = this.nextSeqId++;
    this.sequences.set(seqId, state);
    return { seqId, cachedTokens: state.tokens.length };
  }

  /**
   * Makes sure the sequence has blocks for `totalTokens` positions, allocating (and if needed evicting
   * cached blocks) as it grows. All or nothing: returns false, changing nothing, when the pool cannot
   * supply every block needed. Never shrinks.
   */
  ensureCapacity(seqId: number, totalTokens: number): boolean {
    const seq = this.sequence(seqId);
    expectNonNegativeInteger('totalTokens', totalTokens);
    const missing = Math.ceil(totalTokens / this.blockSize) - seq.blocks.length;
    if (missing <= 0) return true;
    if (missing > this.allocator.numAvailable) return false;
    for (let i = 0; i < missing; i++) {
      const block = this.allocator.allocate();
      if (block === undefined) throw new GptNeoError('ERR_GPTNEO_INTERNAL', 'Block pool ran dry after a capacity check');
      seq.blocks.push(block);
    }
    return true;
  }

  /**
   * Records token ids whose KV has just been computed (they follow the ones recorded before) and commits
   * every block they fill to the prefix cache. Throws, changing nothing, when the sequence lacks the
   * capacity (call ensureCapacity first) or an id is not a token id.
   */
  appendTokens(seqId: number, ids: ArrayLike<number>): void {
    const seq = this.sequence(seqId);
    const tokenIds = checkTokenIds('ids', ids);
    const capacity = seq.blocks.length * this.blockSize;
    if (seq.tokens.length + tokenIds.length > capacity) {
      throw new GptNeoError('ERR_GPTNEO_INVALID_ARGUMENT',
        `Sequence ${seqId} has room for ${capacity} tokens but would hold ${seq.tokens.length + tokenIds.length}`,
        { hint: 'call ensureCapacity(seqId, totalTokens) before computing the tokens' });
    }
    for (let i = 0; i < tokenIds.length; i++) seq.tokens.push(tokenIds[i]!);
    const fullBlocks = Math.floor(seq.tokens.length / this.blockSize);
    while (seq.committedBlocks < fullBlocks) this.commitBlock(seq, seq.committedBlocks++);
  }

  /** Block ids of the sequence in position order (a copy). */
  blockTable(seqId: number): Int32Array {
    return Int32Array.from(this.sequence(seqId).blocks);
  }

  /**
   * The part of the block table that local-attention layers read for the sequence's next query
   * (position = tokens computed so far): blocks covering the last `windowSize` positions up to it.
   * See window.ts for the design.
   */
  windowBlockTable(seqId: number, windowSize: number): WindowBlockTable {
    const seq = this.sequence(seqId);
    const position = seq.tokens.length;
    const range = windowBlockRange(position, position + 1, windowSize, this.blockSize);
    const end = Math.min(range.end, seq.blocks.length);
    const first = Math.min(range.first, end);
    return { firstBlockIndex: first, blocks: Int32Array.from(seq.blocks.slice(first, end)) };
  }

  /** Tokens whose KV the sequence has recorded (cached prefix included). */
  computedTokens(seqId: number): number {
    return this.sequence(seqId).tokens.length;
  }

  /** Token positions the sequence's blocks can hold. */
  capacityTokens(seqId: number): number {
    return this.sequence(seqId).blocks.length * this.blockSize;
  }

  /** Whether `seqId` is a live sequence. */
  hasSequence(seqId: number): boolean {
    return this.sequences.has(seqId);
  }

  /** Ends a sequence and releases its blocks; committed blocks stay in the prefix cache as evictable. */
  freeSequence(seqId: number): void {
    this.drop(seqId);
  }

  /**
   * Ends a sequence to reclaim its blocks under memory pressure, and returns the token ids whose KV it
   * had computed. Committed full blocks stay cached, so recomputing via `createSequence(returnedIds)`
   * (plus anything not yet computed) hits them unless they were evicted meanwhile.
   */
  preempt(seqId: number): number[] {
    return this.drop(seqId);
  }

  /**
   * Whether a new sequence of `numTokens` total tokens fits now. Conservative: it ignores prefix hits,
   * which can only lower the need, so when it says true, createSequence + ensureCapacity succeed.
   */
  canAdmit(numTokens: number): boolean {
    expectNonNegativeInteger('numTokens', numTokens);
    return Math.ceil(numTokens / this.blockSize) <= this.allocator.numAvailable;
  }

  /** True when no block is referenced by a live sequence (evictable cached blocks count as free). */
  allFree(): boolean {
    return this.allocator.numUsed === 0;
  }

  /** Current gauges and counters. */
  stats(): KvCacheStats {
    return {
      numBlocks: this.numBlocks,
      blockSize: this.blockSize,
      freeBlocks: this.allocator.numAvailable,
      usedBlocks: this.allocator.numUsed,
      cachedBlocks: this.cache.size,
      evictableBlocks: this.allocator.numEvictable,
      sequences: this.sequences.size,
      prefixHits: this.prefixHits,
      prefixQueries: this.prefixQueries,
      hitTokens: this.hitTokens,
      queryTokens: this.queryTokens,
    };
  }

  /** Hash collisions the prefix cache caught (and so did not reuse). */
  get prefixCollisions(): number {
    return this.cache.collisions;
  }

  /** Blocks in the order cache eviction would reclaim them (for tests and debugging). */
  evictionOrder(): number[] {
    return this.allocator.evictionOrder();
  }

  /**
   * Verifies the allocator, the prefix cache and their agreement with the sequences; throws
   * ERR_GPTNEO_INTERNAL naming the first broken invariant. O(blocks + tokens); for tests.
   */
  checkInvariants(): void {
    this.allocator.checkInvariants();
    this.cache.checkInvariants();
    const fail = (what: string): never => {
      throw new GptNeoError('ERR_GPTNEO_INTERNAL', `KvCacheManager invariant broken: ${what}`);
    };
    const references = new Int32Array(this.numBlocks);
    for (const [seqId, seq] of this.sequences) {
      if (seq.tokens.length > seq.blocks.length * this.blockSize) fail(`sequence ${seqId} overflows its blocks`);
      if (seq.committedBlocks !== Math.floor(seq.tokens.length / this.blockSize)) {
        fail(`sequence ${seqId} has ${seq.committedBlocks} committed blocks for ${seq.tokens.length} tokens`);
      }
      const seen = new Set<number>();
      for (let i = 0; i < seq.blocks.length; i++) {
        const block = seq.blocks[i]!;
        if (seen.has(block)) fail(`sequence ${seqId} holds block ${block} twice`);
        seen.add(block);
        references[block]!++;
        if (i >= seq.committedBlocks && this.cache.has(block)) {
          fail(`sequence ${seqId} writes into cached block ${block}`);
        }
        if (i < seq.committedBlocks && this.cache.has(block) && !this.cache.holds(block, seq.tokens, i * this.blockSize)) {
          fail(`sequence ${seqId} uses cached block ${block} whose tokens differ from its own`);
        }
      }
    }
    for (let b = 0; b < this.numBlocks; b++) {
      if (references[b] !== this.allocator.refCount(b)) {
        fail(`block ${b} has ${references[b]} references but reference count ${this.allocator.refCount(b)}`);
      }
      if (this.cache.has(b) !== this.allocator.isCached(b)) fail(`block ${b}: cache and allocator disagree`);
    }
  }

  private commitBlock(seq: SequenceState, index: number): void {
    if (seq.link === undefined) return;
    const block = seq.blocks[index]!;
    const { link, inserted } = this.cache.insert(block, seq.link, seq.tokens, index * this.blockSize);
    if (inserted) this.allocator.markCached(block);
    seq.link = link;
  }

  private drop(seqId: number): number[] {
    const seq = this.sequence(seqId);
    this.sequences.delete(seqId);
    for (let i = seq.blocks.length - 1; i >= 0; i--) this.allocator.release(seq.blocks[i]!);
    return seq.tokens;
  }

  private sequence(seqId: number): SequenceState {
    const seq = typeof seqId === 'number' ? this.sequences.get(seqId) : undefined;
    if (!seq) throw invalid('id of a live sequence', 'seqId', seqId);
    return seq;
  }
}

/** Validates token ids (integers in [0, 2^31 − 1]) without copying typed arrays needlessly. */
function checkTokenIds(name: string, ids: ArrayLike<number>): ArrayLike<number> {
  if (!Array.isArray(ids) && !(ids instanceof Int32Array) && !(ids instanceof Uint32Array)) {
    throw invalid('array of token ids', name, ids);
  }
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > MAX_TOKEN_ID) {
      expectInteger(`${name}[${i}]`, id, 0, MAX_TOKEN_ID);
    }
  }
  return ids;
}
