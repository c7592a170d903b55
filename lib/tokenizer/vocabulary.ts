/**
 * The id-indexed tables built once from a TokenizerSpec: id ↔ symbol, the id of each single
 * byte, the bytes behind every id (for decoding), and the merge table. Symbols stay in the
 * spec's VocabIndex; a symbol string is only made when idToToken-style APIs ask for one.
 */
import { GptNeoError } from '../errors.js';
import { BYTE_TO_CHAR } from './byte-alphabet.js';
import { resolveMerges } from './merge-resolve.js';
import type { MergeTable } from './merge-table.js';
import type { AddedTokenSpec, TokenizerSpec } from './spec.js';
import { buildTokenBytes } from './token-bytes.js';
import { ID, RECORD, type VocabIndex } from './vocab-index.js';

const utf8 = new TextEncoder();
/** Ids must be below this (tables are indexed by id; GPT-2 has 50257). */
const MAX_IDS = 1 << 24;

export class Vocabulary {
  /** One more than the largest id (vocabulary and added tokens). */
  readonly size: number;
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
  private readonly index: VocabIndex;
  /** [size] entry of `index` whose symbol an id has, or -1 (of several keys with one id, the last). */
  private readonly entryOfId: Int32Array;
  /** Added tokens' content by id; it is the symbol of that id, whatever the vocabulary says. */
  private readonly addedSymbols = new Map<number, string>();
  /** Added tokens whose content is not a vocabulary key: content → id (the first such token). */
  private readonly extraIds = new Map<string, number>();

  constructor(spec: TokenizerSpec) {
    const index = spec.vocab;
    this.index = index;
    let maxId = index.maxId();
    for (const t of spec.addedTokens) if (t.id > maxId) maxId = t.id;
    if (maxId >= MAX_IDS) {
      throw new GptNeoError('ERR_GPTNEO_TOKENIZER',
        `Vocabulary ${spec.vocabSource} (with its added tokens) has ids up to ${maxId}; at most ${MAX_IDS} ids are supported`);
    }
    this.size = maxId + 1;
    const entryOfId = new Int32Array(this.size).fill(-1);
    const records = index.records;
    for (let e = 0; e < index.count; e++) entryOfId[records[RECORD * e + ID]!] = e;
    this.entryOfId = entryOfId;

    this.addedTokens = [...spec.addedTokens];
    for (const t of spec.addedTokens) {
      this.addedSymbols.set(t.id, t.content);
      if (!this.extraIds.has(t.content) && index.get(t.content) === undefined) this.extraIds.set(t.content, t.id);
    }
    for (const name of spec.specialNames) {
      if (this.addedTokens.some((t) => t.content === name)) continue;
      const id = this.idOf(name);
      if (id !== undefined) this.addedTokens.push({ id, content: name, special: true, lstrip: false, rstrip: false });
    }
    const ownBytes = new Map<number, Uint8Array>();
    for (const t of this.addedTokens) ownBytes.set(t.id, utf8.encode(t.content));

    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = this.idOf(BYTE_TO_CHAR[b]!);
      if (id === undefined) {
        throw new GptNeoError('ERR_GPTNEO_TOKENIZER',
          `Vocabulary ${spec.vocabSource} lacks the byte symbol ${JSON.stringify(BYTE_TO_CHAR[b])} (byte ${b}); it is not a GPT-2 byte-level BPE vocabulary`);
      }
      this.byteIds[b] = id;
    }

    const { assigned, byteStart, tokenBytes } = buildTokenBytes(index, entryOfId, ownBytes);
    this.assigned = assigned;
    this.byteStart = byteStart;
    this.tokenBytes = tokenBytes;
    this.merges = resolveMerges(index, entryOfId, { extraIds: this.extraIds, symbols: this.addedSymbols }, spec.merges, spec);
  }

  /** Id of a symbol (byte alphabet, or an added token's content), or undefined. */
  idOf(symbol: string): number | undefined {
    return this.index.get(symbol) ?? this.extraIds.get(symbol);
  }

  /** Symbol of an id (byte alphabet; an added token's content), or undefined for a hole. */
  symbolOf(id: number): string | undefined {
    const added = this.addedSymbols.get(id);
    if (added !== undefined) return added;
    const e = id >= 0 && id < this.size ? this.entryOfId[id]! : -1;
    return e < 0 ? undefined : this.index.keyAt(e);
  }

  /** Number of bytes id stands for. */
  byteLength(id: number): number {
    return this.byteStart[id + 1]! - this.byteStart[id]!;
  }
}
