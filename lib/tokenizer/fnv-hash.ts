/**
 * FNV-1a over UTF-16 units of a string range, computed in place (no substring). Hashing a
 * second range onward from the first one's hash gives the hash of their concatenation.
 */
export const FNV_SEED = 0x811c9dc5 | 0;

export function hashRange(text: string, start: number, end: number, seed: number = FNV_SEED): number {
  let h = seed;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h;
}
