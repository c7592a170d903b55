/**
 * A small seedable pseudo-random generator for sampling: xoshiro128** (Blackman & Vigna), 128 bits of
 * state in four 32-bit words, seeded from an integer through a 32-bit SplitMix-style mixer.
 *
 * Only 32-bit integer operations (`Math.imul`, shifts, xor) are used, so one seed gives the same
 * sequence on every platform and every JavaScript engine. One generator belongs to one request.
 */
import { randomInt } from 'node:crypto';

/** The largest seed accepted: seeds are integers in [0, MAX_SEED]. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

const TWO_POW_32 = 0x1_0000_0000;
const GOLDEN_GAMMA = 0x9e3779b9;

/** Murmur3's 32-bit finaliser: a bijection on 32-bit integers with good avalanche. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

const rotl = (x: number, k: number): number => (x << k) | (x >>> (32 - k));

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /**
   * A generator from raw xoshiro128** state words (for tests against the published algorithm).
   * Use `Rng.fromSeed` for requests. The state must not be all zero.
   */
  constructor(s0: number, s1: number, s2: number, s3: number) {
    if (((s0 | s1 | s2 | s3) >>> 0) === 0) throw new RangeError('xoshiro128** state must not be all zero');
    this.s0 = s0 >>> 0;
    this.s1 = s1 >>> 0;
    this.s2 = s2 >>> 0;
    this.s3 = s3 >>> 0;
  }

  /**
   * A generator for an integer seed in [0, MAX_SEED]. Distinct seeds give distinct initial states:
   * the first two state words are a bijection of the seed's low and high 32-bit halves.
   */
  static fromSeed(seed: number): Rng {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be an integer in [0, ${MAX_SEED}]`);
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    const s0 = mix32(lo ^ 0x243f6a88);
    const s1 = mix32(hi ^ 0x85a308d3);
    const s2 = mix32((s0 + GOLDEN_GAMMA) >>> 0);
    const s3 = mix32((s1 + Math.imul(GOLDEN_GAMMA, 2)) >>> 0);
    // s0..s3 all zero would need mix32 to map two different inputs to 0; it is a bijection, so at most
    // one of (s0, s2) can be zero. The state is therefore never all zero.
    return new Rng(s0, s1, s2, s3);
  }

  /** The next 32-bit output as an unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0; this.s1 >>>= 0; this.s2 >>>= 0; this.s3 >>>= 0;
    return result;
  }

  /** A float in [0, 1) with 53 random bits (two 32-bit outputs). */
  next(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / 9007199254740992; // (high · 2^26 + low) / 2^53
  }
}

/** A fresh seed from the operating system's random source, for requests that give none. */
export function randomSeed(): number {
  // crypto.randomInt accepts ranges below 2^48.
  return randomInt(0, 2 ** 48 - 1);
}
