/**
 * Resolves merge rules, written as ranges of a text, to (left id, right id, merged id) without
 * creating strings. One pass over each side's units hashes it (alone, and continuing the left
 * side's hash for the pair in a row) while checking it against id 256 + r, which GPT-2's files
 * give the result of rule r; each side is then looked up in the VocabIndex, and the pair only
 * when the check failed.
 */
import { GptNeoError } from '../errors.js';
import { MergeTable } from './merge-table.js';
import type { MergeRules } from './spec.js';
import { utf16Units } from './utf16-units.js';
import { HASH_MASK, type VocabIndex } from './vocab-index.js';

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

/**
 * Id of the symbol units[start, end) (hash `hash`), or -1. Added tokens missing from the
 * vocabulary are looked up by their text.
 */
function idOf(index: VocabIndex, added: AddedSymbols, rules: MergeRules, units: Uint16Array, start: number, end: number, hash: number): number {
  const e = index.find(units, start, end, hash);
  if (e >= 0) return index.ids[e]!;
  return added.extraIds.size === 0 ? -1 : added.extraIds.get(sideText(rules, start, end)) ?? -1;
}

/**
 * @param entryOfId [vocabulary size] entry of `index` whose symbol each id has, or -1
 */
export function resolveMerges(index: VocabIndex, entryOfId: Int32Array, added: AddedSymbols,
  rules: MergeRules, sources: MergeSources): MergeTable {
  const { ranges, count } = rules;
  const units = utf16Units(rules.text);
  const { pool, starts, ends } = index;
  const table = new MergeTable(count);
  const overridden = added.symbols.size !== 0;
  for (let rank = 0; rank < count; rank++) {
    const ls = ranges[4 * rank]!, le = ranges[4 * rank + 1]!;
    const rs = ranges[4 * rank + 2]!, re = ranges[4 * rank + 3]!;
    // p walks the key of id 256 + rank while it matches the two sides in a row; -1 once it does not.
    const guess = 256 + rank;
    const ge = guess < entryOfId.length && !(overridden && added.symbols.has(guess)) ? entryOfId[guess]! : -1;
    let p = ge >= 0 && ends[ge]! - starts[ge]! === le - ls + re - rs ? starts[ge]! : -1;
    let left = 0;
    for (let i = ls; i < le; i++) {
      const c = units[i]!;
      left = (left * 31 + c) & HASH_MASK;
      if (p >= 0) p = pool[p] === c ? p + 1 : -1;
    }
    let right = 0;
    let both = left;
    for (let i = rs; i < re; i++) {
      const c = units[i]!;
      right = (right * 31 + c) & HASH_MASK;
      both = (both * 31 + c) & HASH_MASK;
      if (p >= 0) p = pool[p] === c ? p + 1 : -1;
    }
    const l = idOf(index, added, rules, units, ls, le, left);
    const r = idOf(index, added, rules, units, rs, re, right);
    let merged = p >= 0 ? guess : -1;
    if (merged < 0 && overridden && added.symbols.get(guess) === sideText(rules, ls, le) + sideText(rules, rs, re)) merged = guess;
    if (merged < 0) {
      const e = index.findJoined(units, ls, le, rs, re, both);
      if (e >= 0) merged = index.ids[e]!;
      else if (added.extraIds.size !== 0) merged = added.extraIds.get(sideText(rules, ls, le) + sideText(rules, rs, re)) ?? -1;
    }
    if (l < 0 || r < 0 || merged < 0) throw missingSymbol(rules, rank, sources, l < 0 ? 'left' : r < 0 ? 'right' : 'both');
    table.add(l, r, rank, merged);
  }
  return table;
}

function missingSymbol(rules: MergeRules, rank: number, sources: MergeSources, which: 'left' | 'right' | 'both'): GptNeoError {
  const r = rules.ranges;
  const left = sideText(rules, r[4 * rank]!, r[4 * rank + 1]!);
  const right = sideText(rules, r[4 * rank + 2]!, r[4 * rank + 3]!);
  const missing = which === 'left' ? left : which === 'right' ? right : left + right;
  return new GptNeoError('ERR_GPTNEO_TOKENIZER',
    `Merge rule "${left} ${right}" (${rules.where(rank)} of ${sources.mergesSource}) uses ${JSON.stringify(missing)}, which is not in the vocabulary ${sources.vocabSource}`);
}
