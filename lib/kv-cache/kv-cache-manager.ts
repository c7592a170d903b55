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
 *
 * With `localWindow`, GPT-Neo's local layers get a second pool (see local-window-pool.ts and window.ts):
 * the main pool then holds global layers only, `localBlockTable` gives the local layers' table, and each
 * sequence keeps only the local blocks its window can still read.
 */
import { GptNeoError } from '../errors.js';
import { expectBoolean, expectInteger, expectKnownKeys, expectNonNegativeInteger, expectObject,
  expectPositiveInteger, invalid } from '../validate.js';
import { BlockAllocator } from './block-allocator.js';
import type { BlockHashFn } from './block-hash.js';
import { type LocalPoolStats, type LocalTable, LocalWindowPool, type LocalWindowOptions } from './local-window-pool.js';
import { type PrefixLink, type PrefixMatch, PrefixCache, ROOT_LINK } from './prefix-cache.js';
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
  /** A second pool for sliding-window (local) layers; omit to keep every layer in the main pool. */
  localWindow?: LocalWindowOptions;
}

/** Options of {@link KvCacheManager.createSequence}. */
export interface CreateSequenceOptions {
  /** Look the prompt up in the prefix cache (default true); false computes every token. */
  reusePrefix?: boolean;
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
  /** The local-layer pool, when `localWindow` is set. */
  local?: LocalPoolStats;
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
  /** Local-layer blocks, when the manager has a local pool. */
  readonly local: LocalTable | undefined;
}

const MAX_TOKEN_ID = 0x7fff_ffff;

export class KvCacheManager {
  readonly numBlocks: number;
  readonly blockSize: number;
  readonly prefixCaching: boolean;
  private readonly allocator: BlockAllocator;
  private readonly cache: PrefixCache;
  private readonly local: LocalWindowPool | undefined;
  private readonly sequences = new Map<number, SequenceState>();
  private nextSeqId = 0;
  private prefixHits = 0;
  private prefixQueries = 0;
  private hitTokens = 0;
  private queryTokens = 0;

  constructor(options: KvCacheManagerOptions) {
    expectObject('options', options);
    expectKnownKeys('options', options as unknown as Record<string, unknown>,
      ['numBlocks', 'blockSize', 'prefixCaching', 'hashBlock', 'localWindow']);
    this.numBlocks = expectPositiveInteger('numBlocks', options.numBlocks);
    this.blockSize = expectPositiveInteger('blockSize', options.blockSize);
    this.prefixCaching = options.prefixCaching === undefined ? true
      : expectBoolean('prefixCaching', options.prefixCaching);
    if (options.hashBlock !== undefined && typeof options.hashBlock !== 'function') {
      throw invalid('function', 'hashBlock', options.hashBlock);
    }
    this.cache = new PrefixCache(this.numBlocks, this.blockSize, options.hashBlock);
    this.local = options.localWindow === undefined ? undefined
      : new LocalWindowPool(this.blockSize, options.localWindow);
    this.allocator = new BlockAllocator(this.numBlocks, {
      onEvict: (block) => {
        const entryId = this.cache.remove(block);
        this.local?.forgetEntry(entryId);
      },
    });
  }

  /**
   * Starts a sequence: reuses the longest cached prefix of `promptIds` (whole blocks, leaving at least
   * the last prompt token to compute) and takes a reference on each reused block. With a local pool,
   * the hit is shortened to the longest prefix whose last window of local blocks is cached too.
   * `reusePrefix: false` skips the lookup, for callers that need every token computed (a full forward
   * pass that returns every row); the sequence's full blocks are still committed for later prompts.
   */
  createSequence(promptIds: ArrayLike<number>, options: CreateSequenceOptions = {}): CreatedSequence {
    const prompt = checkTokenIds('promptIds', promptIds);
    if (prompt.length === 0) throw invalid('non-empty array of token ids', 'promptIds', promptIds);
    expectObject('options', options);
    expectKnownKeys('options', options as Record<string, unknown>, ['reusePrefix']);
    const reusePrefix = options.reusePrefix === undefined ? true : expectBoolean('reusePrefix', options.reusePrefix);
    const matches: PrefixMatch[] = [];
    if (this.prefixCaching && reusePrefix) {
      const reusable = Math.floor((prompt.length - 1) / this.blockSize);
      let link = ROOT_LINK;
      for (let i = 0; i < reusable; i++) {
        const match = this.cache.find(link, prompt, i * this.blockSize);
        if (!match) break;
        matches.push(match);
        link = match.link;
      }
      this.prefixQueries++;
      this.queryTokens += reusable * this.blockSize;
    }
    const entryIds = matches.map((m) => m.link.entryId);
    const reused = this.local ? this.local.usablePrefix(entryIds) : matches.length;
    const state: SequenceState = {
      blocks: [],
      tokens: [],
      committedBlocks: reused,
      link: !this.prefixCaching ? undefined : reused > 0 ? matches[reused - 1]!.link : ROOT_LINK,
      local: this.local?.adoptPrefix(entryIds, reused),
    };
    for (let i = 0; i < reused; i++) {
      this.allocator.retain(matches[i]!.block);
      state.blocks.push(matches[i]!.block);
    }
    const cachedTokens = reused * this.blockSize;
    for (let i = 0; i < cachedTokens; i++) state.tokens.push(prompt[i]!);
    this.hitTokens += cachedTokens;
    if (cachedTokens > 0) this.prefixHits++;
    const seqId = this.nextSeqId++;
    this.sequences.set(seqId, state);
    return { seqId, cachedTokens: state.tokens.length };
  }

  /**
   * Makes sure the sequence has blocks for `totalTokens` positions, allocating (and if needed evicting
   * cached blocks) as it grows, in the local pool too when there is one. All or nothing: returns false,
   * changing nothing, when a pool cannot supply every block needed. Never shrinks.
   */
  ensureCapacity(seqId: number, totalTokens: number): boolean {
    const seq = this.sequence(seqId);
    expectNonNegativeInteger('totalTokens', totalTokens);
    const missing = Math.ceil(totalTokens / this.blockSize) - seq.blocks.length;
    if (missing <= 0) return true;
    if (missing > this.allocator.numAvailable) return false;
    if (this.local && missing > this.local.numAvailable) return false;
    for (let i = 0; i < missing; i++) {
      const block = this.allocator.allocate();
      if (block === undefined) {
        throw new GptNeoError('ERR_GPTNEO_INTERNAL', 'Block pool ran dry after a capacity check');
      }
      seq.blocks.push(block);
    }
    if (this.local) this.local.grow(seq.local!, missing);
    return true;
  }

  /**
   * Records token ids whose KV has just been computed (they follow the ones recorded before) and commits
   * every block they fill to the prefix cache. With a local pool, local blocks that slid out of the window
   * are released. Throws, changing nothing, when the sequence lacks the capacity (call ensureCapacity
   * first) or an id is not a token id.
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
    if (this.local) this.local.dropOutOfWindow(seq.local!, seq.tokens.length);
  }

  /** Block ids of the sequence in position order (a copy). */
  blockTable(seqId: number): Int32Array {
    return Int32Array.from(this.sequence(seqId).blocks);
  }

  /**
   * The local-layer pool's table of the sequence (requires `localWindow`): one slot per logical block,
   * -1 for blocks that slid out of the window. Same length as `blockTable`.
   */
  localBlockTable(seqId: number): Int32Array {
    const seq = this.sequence(seqId);
    if (!seq.local) {
      throw new GptNeoError('ERR_GPTNEO_UNSUPPORTED', 'This KV cache has no local-layer pool',
        { hint: 'pass localWindow: { windowSize, numBlocks } to KvCacheManager' });
    }
    return Int32Array.from(seq.local.blocks);
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
    const blocks = Math.ceil(numTokens / this.blockSize);
    return blocks <= this.allocator.numAvailable && (!this.local || blocks <= this.local.numAvailable);
  }

  /** True when no block (of either pool) is referenced by a live sequence; evictable cached blocks count as free. */
  allFree(): boolean {
    return this.allocator.numUsed === 0 && (!this.local || this.local.allFree());
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
      ...(this.local ? { local: this.local.stats() } : {}),
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
      if ((seq.local === undefined) !== (this.local === undefined)) fail(`sequence ${seqId} local table mismatch`);
      if (seq.local && seq.local.blocks.length !== seq.blocks.length) fail(`sequence ${seqId} tables differ in length`);
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
        const cachedHere = i < seq.committedBlocks && this.cache.has(block);
        if (cachedHere && !this.cache.holds(block, seq.tokens, i * this.blockSize)) {
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
    this.local?.checkInvariants([...this.sequences].map(([seqId, seq]) =>
      ({ seqId, table: seq.local!, position: seq.tokens.length })));
  }

  private commitBlock(seq: SequenceState, index: number): void {
    if (seq.link === undefined) return;
    const block = seq.blocks[index]!;
    const { link, inserted } = this.cache.insert(block, seq.link, seq.tokens, index * this.blockSize);
    if (inserted) this.allocator.markCached(block);
    seq.link = link;
    if (this.local) this.local.commit(seq.local!, index, link.entryId);
  }

  private drop(seqId: number): number[] {
    const seq = this.sequence(seqId);
    this.sequences.delete(seqId);
    for (let i = seq.blocks.length - 1; i >= 0; i--) this.allocator.release(seq.blocks[i]!);
    if (this.local) this.local.releaseAll(seq.local!);
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
