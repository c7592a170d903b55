/**
 * Automatic prefix caching: an index from block content (chained with its whole prefix) to the pool
 * block that holds its KV.
 *
 * Each registered block is an entry with a unique, never reused `entryId`, its key
 * (`hash(parentKey, tokens)`), its parent's entryId (0 for a first block) and a copy of its token ids.
 * A lookup walks a prompt block by block from {@link ROOT_LINK}; a candidate found under the hash key
 * counts only if its parent entryId equals the entry matched just before AND its stored tokens equal the
 * prompt's. By induction a hit therefore means the whole prefix is equal, whatever the hash does: a hash
 * collision can only cost a lost hit, never wrong KV. Entries never revive: when a block is evicted its
 * entryId dies with it, so orphaned children (whose parent was evicted) can no longer be matched even if
 * the parent's block id is reused for other content.
 */
import { GptNeoError } from '../errors.js';
import { expectPositiveInteger } from '../validate.js';
import { type BlockHashFn, fnv1a64BlockHash, ROOT_BLOCK_KEY } from './block-hash.js';

/** Where a prefix ends: the key and entryId of its last block. */
export interface PrefixLink {
  readonly key: string;
  readonly entryId: number;
}

/** The link before a sequence's first block. */
export const ROOT_LINK: PrefixLink = Object.freeze({ key: ROOT_BLOCK_KEY, entryId: 0 });

/** A cached block continuing some prefix, and the link that continues past it. */
export interface PrefixMatch {
  readonly block: number;
  readonly link: PrefixLink;
}

const NO_ENTRY = 0;

export class PrefixCache {
  readonly numBlocks: number;
  readonly blockSize: number;
  private readonly hash: BlockHashFn;
  private readonly entryIds: Float64Array;
  private readonly parentEntryIds: Float64Array;
  private readonly keys: (string | undefined)[];
  /** Token ids of every entry: block b owns `tokens[b·blockSize .. (b+1)·blockSize)`. */
  private readonly tokens: Int32Array;
  /** Blocks registered under each hash key (more than one only after a collision). */
  private readonly buckets = new Map<string, number[]>();
  private nextEntryId = 1;
  private entryCount = 0;
  private collisionCount = 0;

  constructor(numBlocks: number, blockSize: number, hash: BlockHashFn = fnv1a64BlockHash) {
    this.numBlocks = expectPositiveInteger('numBlocks', numBlocks);
    this.blockSize = expectPositiveInteger('blockSize', blockSize);
    this.hash = hash;
    this.entryIds = new Float64Array(numBlocks);
    this.parentEntryIds = new Float64Array(numBlocks);
    this.keys = new Array<string | undefined>(numBlocks).fill(undefined);
    this.tokens = new Int32Array(numBlocks * blockSize);
  }

  /** Number of blocks registered (used or evictable). */
  get size(): number { return this.entryCount; }

  /**
   * Candidates found under a hash key that failed verification (other tokens or another parent):
   * each one is a hash collision that was caught.
   */
  get collisions(): number { return this.collisionCount; }

  /** Whether `block` is registered. */
  has(block: number): boolean { return this.entryIds[block] !== NO_ENTRY; }

  /** Finds the block that holds `tokens[start .. start + blockSize)` right after the prefix ending at `parent`. */
  find(parent: PrefixLink, tokens: ArrayLike<number>, start: number): PrefixMatch | undefined {
    const key = this.hash(parent.key, tokens, start, start + this.blockSize);
    const block = this.verifiedInBucket(key, parent.entryId, tokens, start);
    return block === undefined ? undefined : { block, link: { key, entryId: this.entryIds[block]! } };
  }

  /**
   * Registers `block` as holding `tokens[start .. start + blockSize)` after the prefix ending at
   * `parent`. When an equal entry already exists (two sequences computed the same prefix), nothing is
   * registered and the existing entry's link is returned with `inserted: false`; the caller's block
   * then stays uncached and is freed normally.
   */
  insert(block: number, parent: PrefixLink, tokens: ArrayLike<number>, start: number):
    { link: PrefixLink; inserted: boolean } {
    if (this.has(block)) {
      throw new GptNeoError('ERR_GPTNEO_INTERNAL', `Block ${block} is already in the prefix cache`);
    }
    const key = this.hash(parent.key, tokens, start, start + this.blockSize);
    const existing = this.verifiedInBucket(key, parent.entryId, tokens, start);
    if (existing !== undefined) {
      return { link: { key, entryId: this.entryIds[existing]! }, inserted: false };
    }
    const entryId = this.nextEntryId++;
    this.entryIds[block] = entryId;
    this.parentEntryIds[block] = parent.entryId;
    this.keys[block] = key;
    const base = block * this.blockSize;
    for (let i = 0; i < this.blockSize; i++) this.tokens[base + i] = tokens[start + i]!;
    const bucket = this.buckets.get(key);
    if (bucket) bucket.push(block);
    else this.buckets.set(key, [block]);
    this.entryCount++;
    return { link: { key, entryId }, inserted: true };
  }

  /** Forgets `block` (it is being evicted) and returns its entryId (0 if it had none); the id is never reused. */
  remove(block: number): number {
    const key = this.keys[block];
    if (key === undefined) return NO_ENTRY;
    const entryId = this.entryIds[block]!;
    const bucket = this.buckets.get(key)!;
    const at = bucket.indexOf(block);
    bucket.splice(at, 1);
    if (bucket.length === 0) this.buckets.delete(key);
    this.entryIds[block] = NO_ENTRY;
    this.parentEntryIds[block] = NO_ENTRY;
    this.keys[block] = undefined;
    this.entryCount--;
    return entryId;
  }

  /** The entryId of registered `block`, 0 when it is not registered. */
  entryIdOf(block: number): number { return this.entryIds[block]!; }

  /** Whether registered `block` holds exactly `tokens[start .. start + blockSize)`. */
  holds(block: number, tokens: ArrayLike<number>, start: number): boolean {
    if (!this.has(block)) return false;
    const base = block * this.blockSize;
    for (let i = 0; i < this.blockSize; i++) {
      if (this.tokens[base + i] !== tokens[start + i]) return false;
    }
    return true;
  }

  /** Throws ERR_GPTNEO_INTERNAL when the buckets and the per-block entries disagree. */
  checkInvariants(): void {
    const fail = (what: string): never => {
      throw new GptNeoError('ERR_GPTNEO_INTERNAL', `PrefixCache invariant broken: ${what}`);
    };
    let inBuckets = 0;
    for (const [key, bucket] of this.buckets) {
      if (bucket.length === 0) fail(`empty bucket ${key}`);
      for (const block of bucket) {
        inBuckets++;
        if (this.keys[block] !== key) fail(`block ${block} is in bucket ${key} under another key`);
        if (this.entryIds[block] === NO_ENTRY) fail(`block ${block} is in a bucket without an entry`);
      }
    }
    let entries = 0;
    for (let b = 0; b < this.numBlocks; b++) {
      if (this.entryIds[b] === NO_ENTRY) {
        if (this.keys[b] !== undefined) fail(`block ${b} has a key but no entry`);
        continue;
      }
      entries++;
      if (this.entryIds[b]! >= this.nextEntryId) fail(`block ${b} has a future entryId`);
      if (this.parentEntryIds[b]! >= this.entryIds[b]!) fail(`block ${b} is older than its parent`);
    }
    if (entries !== inBuckets) fail(`${entries} entries but ${inBuckets} bucketed blocks`);
    if (entries !== this.entryCount) fail(`entry count ${this.entryCount} != ${entries}`);
  }

  private verifiedInBucket(key: string, parentEntryId: number, tokens: ArrayLike<number>, start: number):
    number | undefined {
    const bucket = this.buckets.get(key);
    if (!bucket) return undefined;
    for (const block of bucket) {
      if (this.parentEntryIds[block] === parentEntryId && this.holds(block, tokens, start)) return block;
      this.collisionCount++;
    }
    return undefined;
  }
}
