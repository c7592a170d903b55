/**
 * Resolves merge rules, written as ranges of a text, to (left id, right id, merged id) without
 * creating strings: each side is hashed in place and looked up in the VocabIndex, and the merged
 * symbol is checked against id 256 + r first (GPT-2's files give rule r that id), and looked up
 * by the hash of both sides in a row only when that check fails.
 */
import { GptNeoError } from '../errors.js';
import { MergeTable } from './merge-table.js';
import type { MergeRules } from './spec.js';
import { utf16Units } from './utf16-units.js';
import { HASH_MASK, hashUnits, ID, KEY_END, KEY_START, RECORD, type VocabIndex } from './vocab-index.js';

/** Added tokens, which take part in symbol lookups beside the VocabIndex. */
export interface AddedSymbols {
  /** Content → id of added tokens whose content is not a vocabulary key. */
  extraIds: Map<string, number>;
  /** Id → content of every added token (it is that id's symbol, whatever the vocabulary says). */
  symbols: Map<number, string>;
}

export interface MergeSources {
  vocabSource: string;
  mergesSource: string;
}

/** The text of a rule's side (or both sides in a row), for added-token lookups and messages. */
const sideText = (rules: MergeRules, from: number, to: number): string => rules.text.slice(from, to);

/** Id of an added token (missing from the vocabulary) whose content is text[start, end), or -1. */
function addedId(added: AddedSymbols, rules: MergeRules, start: number, end: number): number {
  return added.extraIds.size === 0 ? -1 : added.extraIds.get(sideText(rules, start, end)) ?? -1;
}

/**
 * [2 · count] the hash of each rule's left and right side. A loop of its own: small and hot, it
 * is optimised early in a fresh process, where the bigger resolving loop would still be
 * interpreted.
 */
function sideHashes(units: Uint16Array, ranges: Int32Array, count: number): Int32Array {
  const out = new Int32Array(2 * count);
  for (let k = 0; k < 2 * count; k++) {
    let h = 0;
    for (let i = ranges[2 * k]!, end = ranges[2 * k + 1]!; i < end; i++) h = (h * 31 + units[i]!) & HASH_MASK;
    out[k] = h;
  }
  return out;
}

/** Whether pool[p, …) starts with units[ls, le) followed by units[rs, re) (the lengths are checked by the caller). */
function poolHoldsPair(pool: Uint16Array, p: number, units: Uint16Array, ls: number, le: number, rs: number, re: number): boolean {
  for (let i = ls; i < le; i++) if (pool[p++] !== units[i]) return false;
  for (let i = rs; i < re; i++) if (pool[p++] !== units[i]) return false;
  return true;
}

/**
 * @param entryOfId [vocabulary size] entry of `index` whose symbol each id has, or -1
 */
export function resolveMerges(index: VocabIndex, entryOfId: Int32Array, added: AddedSymbols,
  rules: MergeRules, sources: MergeSources): MergeTable {
  const { ranges, count } = rules;
  const units = utf16Units(rules.text);
  const hashes = sideHashes(units, ranges, count);
  const { pool, records } = index;
  const table = new MergeTable(count);
  const overridden = added.symbols.size !== 0;
  for (let rank = 0; rank < count; rank++) {
    const ls = ranges[4 * rank]!, le = ranges[4 * rank + 1]!;
    const rs = ranges[4 * rank + 2]!, re = ranges[4 * rank + 3]!;
    const leftEntry = index.find(units, ls, le, hashes[2 * rank]!);
    const l = leftEntry >= 0 ? records[RECORD * leftEntry + ID]! : addedId(added, rules, ls, le);
    const rightEntry = index.find(units, rs, re, hashes[2 * rank + 1]!);
    const r = rightEntry >= 0 ? records[RECORD * rightEntry + ID]! : addedId(added, rules, rs, re);
    const guess = 256 + rank;
    const ge = guess < entryOfId.length && !(overridden && added.symbols.has(guess)) ? entryOfId[guess]! : -1;
    const g = RECORD * ge;
    let merged = ge >= 0 && records[g + KEY_END]! - records[g + KEY_START]! === le - ls + re - rs
      && poolHoldsPair(pool, records[g + KEY_START]!, units, ls, le, rs, re) ? guess : -1;
    if (merged < 0) merged = joinedId(index, added, rules, units, rank, guess, hashes[2 * rank]!);
    if (l < 0 || r < 0 || merged < 0) throw missingSymbol(rules, rank, sources, l < 0 ? 'left' : r < 0 ? 'right' : 'both');
    table.add(l, r, rank, merged);
  }
  return table;
}

/** The id of rule `rank`'s two sides in a row when it is not `guess` in the vocabulary, or -1. */
function joinedId(index: VocabIndex, added: AddedSymbols, rules: MergeRules, units: Uint16Array,
  rank: number, guess: number, leftHash: number): number {
  const r = rules.ranges;
  const ls = r[4 * rank]!, le = r[4 * rank + 1]!, rs = r[4 * rank + 2]!, re = r[4 * rank + 3]!;
  const joined = (): string => sideText(rules, ls, le) + sideText(rules, rs, re);
  if (added.symbols.size !== 0 && added.symbols.get(guess) === joined()) return guess;
  const e = index.findJoined(units, ls, le, rs, re, hashUnits(units, rs, re, leftHash));
  if (e >= 0) return index.idAt(e);
  return added.extraIds.size === 0 ? -1 : added.extraIds.get(joined()) ?? -1;
}

function missingSymbol(rules: MergeRules, rank: number, sources: MergeSources, which: 'left' | 'right' | 'both'): GptNeoError {
  const r = rules.ranges;
  const left = sideText(rules, r[4 * rank]!, r[4 * rank + 1]!);
  const right = sideText(rules, r[4 * rank + 2]!, r[4 * rank + 3]!);
  const missing = which === 'left' ? left : which === 'right' ? right : left + right;
  return new GptNeoError('ERR_GPTNEO_TOKENIZER',
    `Merge rule "${left} ${right}" (${rules.where(rank)} of ${sources.mergesSource}) uses ${JSON.stringify(missing)}, which is not in the vocabulary ${sources.vocabSource}`);
}
