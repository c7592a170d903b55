/**
 * Content keys of full KV blocks for the prefix cache.
 *
 * A block's key hashes its parent block's key followed by its own token ids, so equal keys (barring a
 * collision) mean equal whole prefixes, not just equal block contents. The hash only speeds up lookup:
 * the prefix cache also stores each block's token ids and its parent's entry, and verifies both on every
 * hit, so even a deliberately weak hash can never make it reuse the wrong KV.
 */

/**
 * Hashes one block: `parentKey` is the key of the previous block of the prefix ('' for the first
 * block) and `tokens[start .. end)` are the block's token ids. Must be deterministic.
 */
export type BlockHashFn = (parentKey: string, tokens: ArrayLike<number>, start: number, end: number) => string;

/** Key of the (empty) parent of a sequence's first block. */
export const ROOT_BLOCK_KEY = '';

// 64-bit FNV-1a constants, split into 32-bit halves: offset basis 0xcbf29ce484222325,
// prime 0x100000001b3 = 2^40 + 0x1b3.
const OFFSET_HI = 0xcbf29ce4;
const OFFSET_LO = 0x84222325;
const PRIME_LO = 0x1b3;
const TWO_32 = 0x1_0000_0000;

/** Incremental 64-bit FNV-1a with exact arithmetic in two 32-bit halves. */
class Fnv1a64 {
  private hi = OFFSET_HI;
  private lo = OFFSET_LO;

  /** Mixes one byte: (hi·2^32 + lo)·(2^40 + 0x1b3) mod 2^64 = lo·0x1b3 + 2^32·(hi·0x1b3 + lo·2^8). */
  byte(value: number): void {
    const lo = (this.lo ^ (value & 0xff)) >>> 0;
    const low = lo * PRIME_LO; // < 2^41: exact in a double
    this.hi = (Math.floor(low / TWO_32) + Math.imul(this.hi, PRIME_LO) + (lo << 8)) >>> 0;
    this.lo = low >>> 0;
  }

  /** The 64-bit state as 16 hex digits. */
  digest(): string {
    return this.hi.toString(16).padStart(8, '0') + this.lo.toString(16).padStart(8, '0');
  }
}

/** 64-bit FNV-1a of a byte string as 16 hex digits (exported for the published test vectors). */
export function fnv1a64(bytes: ArrayLike<number>): string {
  const h = new Fnv1a64();
  for (let i = 0; i < bytes.length; i++) h.byte(bytes[i]!);
  return h.digest();
}

/**
 * The default block hash: 64-bit FNV-1a over the UTF-16 code units of the parent key (low byte first),
 * a two-byte 0xff separator, then the 4 little-endian bytes of each token id; 16 hex digits.
 */
export const fnv1a64BlockHash: BlockHashFn = (parentKey, tokens, start, end) => {
  const h = new Fnv1a64();
  for (let i = 0; i < parentKey.length; i++) {
    const unit = parentKey.charCodeAt(i);
    h.byte(unit);
    h.byte(unit >>> 8);
  }
  h.byte(0xff);
  h.byte(0xff);
  for (let i = start; i < end; i++) {
    const t = tokens[i]! >>> 0;
    h.byte(t);
    h.byte(t >>> 8);
    h.byte(t >>> 16);
    h.byte(t >>> 24);
  }
  return h.digest();
};
