/**
 * The id-indexed tables built once from a TokenizerSpec: id ↔ symbol, the id of each single
 * byte, the bytes behind every id (for decoding), and the merge table.
 */
import { GptNeoError } from '../errors.js';
import { BYTE_TO_CHAR, CHAR_CODE_TO_BYTE } from './byte-alphabet.js';
import { MergeTable } from './merge-table.js';
import type { AddedTokenSpec, TokenizerSpec } from './spec.js';

const utf8 = new TextEncoder();

export class Vocabulary {
  /** One more than the largest id (vocabulary and added tokens). */
  readonly size: number;
  /** Symbol of each id (byte alphabet for BPE tokens, the content for added tokens); holes are undefined. */
  readonly symbols: Array<string | undefined>;
  /** Added tokens (from the files, plus named special tokens found in the vocabulary). */
  readonly addedTokens: AddedTokenSpec[];
  /** Id of the token made of the single byte b. */
  readonly byteIds: Int32Array;
  readonly merges: MergeTable;
  /** Bytes of id i are tokenBytes[byteStart[i] .. byteStart[i + 1]). */
  readonly tokenBytes: Uint8Array;
  readonly byteStart: Int32Array;
  /** 1 where an id is assigned (not a hole in the id space). */
  readonly assigned: Uint8Array;
  /** Symbol → id (the vocabulary's Map, with added tokens). */
  private readonly symbolToId: Map<string, number>;

  /** Takes ownership of `spec.vocab` (added tokens missing from it are added to it). */
  constructor(spec: TokenizerSpec) {
    const vocab = spec.vocab;
    let maxId = -1;
    for (const id of vocab.values()) if (id > maxId) maxId = id;
    for (const t of spec.addedTokens) if (t.id > maxId) maxId = t.id;
    this.size = maxId + 1;
    const symbols = new Array<string | undefined>(this.size).fill(undefined);
    for (const [symbol, id] of vocab) symbols[id] = symbol;
    this.symbols = symbols;
    this.symbolToId = vocab;

    this.addedTokens = [...spec.addedTokens];
    for (const t of spec.addedTokens) {
      symbols[t.id] = t.content;
      if (!vocab.has(t.content)) vocab.set(t.content, t.id);
    }
    for (const name of spec.specialNames) {
      if (this.addedTokens.some((t) => t.content === name)) continue;
      const id = vocab.get(name);
      if (id !== undefined) this.addedTokens.push({ id, content: name, special: true, lstrip: false, rstrip: false });
    }
    const addedContent = new Map<number, Uint8Array>();
    for (const t of this.addedTokens) addedContent.set(t.id, utf8.encode(t.content));

    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = vocab.get(BYTE_TO_CHAR[b]!);
      if (id === undefined) {
        throw new GptNeoError('ERR_GPTNEO_TOKENIZER',
          `Vocabulary ${spec.vocabSource} lacks the byte symbol ${JSON.stringify(BYTE_TO_CHAR[b])} (byte ${b}); it is not a GPT-2 byte-level BPE vocabulary`);
      }
      this.byteIds[b] = id;
    }

    const { assigned, byteStart, tokenBytes } = Vocabulary.tokenBytesOf(symbols, addedContent);
    this.assigned = assigned;
    this.byteStart = byteStart;
    this.tokenBytes = tokenBytes;
    this.merges = this.mergeTableOf(spec);
  }

  /** Id of a symbol (byte alphabet, or an added token's content), or undefined. */
  idOf(symbol: string): number | undefined {
    return this.symbolToId.get(symbol);
  }

  /**
   * The bytes of every id in one buffer. Byte-alphabet symbols have one byte per character;
   * added tokens (and symbols outside the alphabet) are their UTF-8.
   */
  private static tokenBytesOf(symbols: Array<string | undefined>, addedContent: Map<number, Uint8Array>)
    : { assigned: Uint8Array; byteStart: Int32Array; tokenBytes: Uint8Array } {
    const size = symbols.length;
    const assigned = new Uint8Array(size);
    const byteStart = new Int32Array(size + 1);
    let total = 0;
    for (let id = 0; id < size; id++) {
      byteStart[id] = total;
      const symbol = symbols[id];
      if (symbol === undefined) continue;
      assigned[id] = 1;
      const added = addedContent.get(id);
      total += added ? added.length : symbol.length;
    }
    byteStart[size] = total;
    const tokenBytes = new Uint8Array(total);
    const fixups: number[] = [];
    for (let id = 0; id < size; id++) {
      const symbol = symbols[id];
      if (symbol === undefined) continue;
      let at = byteStart[id]!;
      const added = addedContent.get(id);
      if (added) { tokenBytes.set(added, at); continue; }
      for (let k = 0; k < symbol.length; k++) {
        const c = symbol.charCodeAt(k);
        const b = c < CHAR_CODE_TO_BYTE.length ? CHAR_CODE_TO_BYTE[c]! : -1;
        if (b < 0) { fixups.push(id); break; }
        tokenBytes[at++] = b;
      }
    }
    if (fixups.length === 0) return { assigned, byteStart, tokenBytes };
    // Rare: symbols outside the byte alphabet decode as their own UTF-8; rebuild with those lengths.
    for (const id of fixups) addedContent.set(id, utf8.encode(symbols[id]!));
    return Vocabulary.tokenBytesOf(symbols, addedContent);
  }

  /**
   * Resolves every merge rule to (left id, right id, merged id). In GPT-2's files the result of
   * rule r has id 256 + r, which is checked first; otherwise the concatenation is looked up.
   */
  private mergeTableOf(spec: TokenizerSpec): MergeTable {
    const { text, ranges, count } = spec.merges;
    const { symbols, symbolToId: vocab } = this;
    const table = new MergeTable(count);
    for (let rank = 0; rank < count; rank++) {
      const left = text.slice(ranges[4 * rank]!, ranges[4 * rank + 1]!);
      const right = text.slice(ranges[4 * rank + 2]!, ranges[4 * rank + 3]!);
      const l = vocab.get(left);
      const r = vocab.get(right);
      const guess = symbols[256 + rank];
      const merged = guess !== undefined && guess.length === left.length + right.length
        && guess.startsWith(left) && guess.endsWith(right) ? 256 + rank : vocab.get(left + right);
      if (l === undefined || r === undefined || merged === undefined) {
        const missing = l === undefined ? left : r === undefined ? right : left + right;
        throw new GptNeoError('ERR_GPTNEO_TOKENIZER',
          `Merge rule "${left} ${right}" (${spec.merges.where(rank)} of ${spec.mergesSource}) uses ${JSON.stringify(missing)}, which is not in the vocabulary ${spec.vocabSource}`);
      }
      table.add(l, r, rank, merged);
    }
    return table;
  }

  /** Number of bytes id stands for. */
  byteLength(id: number): number {
    return this.byteStart[id + 1]! - this.byteStart[id]!;
  }
}
