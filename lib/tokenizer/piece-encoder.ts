/**
 * Encodes one pre-token: UTF-8 bytes → byte ids → BPE merges, with a bounded cache from the
 * pre-token's text to its ids (most words repeat, so most pieces never reach the merge loop).
 */
import { mergePiece } from './bpe.js';
import { hashPiece, PieceCache } from './piece-cache.js';
import { maxUtf8Length, writeUtf8ByteIds } from './utf8-bytes.js';
import type { Vocabulary } from './vocabulary.js';

/** Cache capacity in pieces. */
const CACHE_ENTRIES = 1 << 17;
/** Longer pieces are not cached (they rarely repeat and would pin memory). */
const MAX_CACHED_LENGTH = 48;
/** Scratch buffers up to this many ids are kept between calls; larger ones are temporary. */
const SCRATCH_KEEP = 1 << 16;

export class PieceEncoder {
  private scratch = new Int32Array(1024);
  private readonly cache = new PieceCache(CACHE_ENTRIES);
  private readonly byteIds: Int32Array;

  constructor(private readonly vocab: Vocabulary) {
    this.byteIds = vocab.byteIds;
  }

  /** Appends the ids of the pre-token text[start, end) to `out`. */
  encodeInto(text: string, start: number, end: number, out: number[]): void {
    const length = end - start;
    if (length === 1) {
      const c = text.charCodeAt(start);
      if (c < 0x80) { out.push(this.byteIds[c]!); return; }
    }
    if (length > MAX_CACHED_LENGTH) {
      this.mergeInto(text, start, end, out);
      return;
    }
    const hash = hashPiece(text, start, end);
    if (this.cache.appendIfCached(text, start, end, hash, out)) return;
    const before = out.length;
    this.mergeInto(text, start, end, out);
    this.cache.set(text.slice(start, end), hash, out, before);
  }

  private mergeInto(text: string, start: number, end: number, out: number[]): void {
    const need = maxUtf8Length(start, end);
    let ids = this.scratch;
    if (need > ids.length) {
      ids = new Int32Array(need);
      if (need <= SCRATCH_KEEP) this.scratch = ids;
    }
    let n = writeUtf8ByteIds(text, start, end, this.byteIds, ids);
    n = mergePiece(ids, n, this.vocab.merges);
    for (let k = 0; k < n; k++) out.push(ids[k]!);
  }

  /** Drops every cached piece. */
  clearCache(): void {
    this.cache.clear();
  }
}
