/**
 * Turns the text of a tokenizer's files into a TokenizerSpec, with errors that name the file.
 */
import { GptNeoError } from '../errors.js';
import type { FileContents, TokenizerFilePlan } from './files.js';
import type { AddedTokenSpec, MergeRules, TokenizerSpec } from './spec.js';
import { VocabIndex } from './vocab-index.js';
import { scanVocabJson } from './vocab-json.js';

/** GPT2Tokenizer's default for bos/eos/unk when no special-token file says otherwise. */
const GPT2_DEFAULT_SPECIAL = '<|endoftext|>';

function malformed(path: string, what: string): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_TOKENIZER', `Malformed tokenizer file ${path}: ${what}`);
}

function parseJson(path: string, text: string): unknown {
  try {
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw new GptNeoError('ERR_GPTNEO_TOKENIZER', `Malformed JSON in tokenizer file ${path}: ${(e as Error).message}`, { cause: e });
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function parseVocab(path: string, value: unknown): VocabIndex {
  if (!isRecord(value)) throw malformed(path, 'the vocabulary must be a JSON object of token → id');
  const keys: string[] = [];
  const ids: number[] = [];
  for (const key in value) {
    const id = value[key];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7ffffffe) {
      throw malformed(path, `token ${JSON.stringify(key)} has id ${JSON.stringify(id)}; ids must be non-negative integers`);
    }
    keys.push(key);
    ids.push(id);
  }
  return VocabIndex.fromKeys(keys, ids);
}

/** Builds MergeRules while validating; `ranges` grows as rules are added. */
class MergeRulesBuilder {
  ranges: Int32Array;
  count = 0;

  constructor(capacityHint: number) {
    this.ranges = new Int32Array(4 * Math.max(64, capacityHint));
  }

  push(ls: number, le: number, rs: number, re: number): void {
    if (4 * this.count + 4 > this.ranges.length) {
      const bigger = new Int32Array(this.ranges.length * 2);
      bigger.set(this.ranges);
      this.ranges = bigger;
    }
    const at = 4 * this.count++;
    this.ranges[at] = ls;
    this.ranges[at + 1] = le;
    this.ranges[at + 2] = rs;
    this.ranges[at + 3] = re;
  }

  /** `where(rank)` describes where rule `rank` is written (used only for error messages). */
  build(text: string, where: (rank: number) => string): MergeRules {
    return { text, ranges: this.ranges.subarray(0, 4 * this.count), count: this.count, where };
  }
}

/** The index of the one space splitting text[start, end) into two symbols, or -1. */
function ruleSpace(text: string, start: number, end: number): number {
  const space = text.indexOf(' ', start);
  if (space <= start || space >= end - 1) return -1;
  const second = text.indexOf(' ', space + 1);
  return second !== -1 && second < end ? -1 : space;
}

function badRule(path: string, where: string, rule: string): GptNeoError {
  return malformed(path, `${where}: expected two symbols separated by one space, got ${JSON.stringify(rule)}`);
}

/** 1-based line number of text[at]. */
function lineOf(text: string, at: number): number {
  let line = 1;
  for (let nl = text.indexOf('\n'); nl >= 0 && nl < at; nl = text.indexOf('\n', nl + 1)) line++;
  return line;
}

/** merges.txt: an optional `#version` line, then one `left right` rule per line. */
export function parseMergesTxt(path: string, text: string): MergeRules {
  const rules = new MergeRulesBuilder(text.length >> 3); // GPT-2's rules take about 9 characters
  let start = 0;
  if (text.startsWith('#version')) start = text.indexOf('\n') + 1 || text.length;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const next = end + 1;
    if (end > start && text.charCodeAt(end - 1) === 0x0d) end--;
    if (end > start) {
      const space = ruleSpace(text, start, end);
      if (space < 0) throw badRule(path, `line ${lineOf(text, start)}`, text.slice(start, end));
      rules.push(start, space, space + 1, end);
    }
    start = next;
  }
  return rules.build(text, (rank) => `line ${lineOf(text, rules.ranges[4 * rank]!)}`);
}

/** tokenizer.json's model.merges: "a b" strings or ["a", "b"] pairs, laid out in one string. */
function parseMergesArray(path: string, value: unknown): MergeRules {
  if (!Array.isArray(value)) throw malformed(path, 'model.merges must be an array');
  const rules = new MergeRulesBuilder(value.length);
  const parts: string[] = [];
  let at = 0;
  value.forEach((m, i) => {
    if (typeof m === 'string') {
      const space = ruleSpace(m, 0, m.length);
      if (space < 0) throw badRule(path, `model.merges[${i}]`, m);
      rules.push(at, at + space, at + space + 1, at + m.length);
      parts.push(m, '\n');
      at += m.length + 1;
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string' && m[0] !== '' && m[1] !== '') {
      const [left, right] = m as [string, string];
      rules.push(at, at + left.length, at + left.length + 1, at + left.length + 1 + right.length);
      parts.push(left, ' ', right, '\n');
      at += left.length + right.length + 2;
    } else {
      throw malformed(path, `model.merges[${i}] must be "a b" or ["a", "b"]`);
    }
  });
  return rules.build(parts.join(''), (rank) => `model.merges[${rank}]`); // one rule per element
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isRecord(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

function addedToken(path: string, where: string, raw: unknown, id: unknown, special: boolean): AddedTokenSpec {
  const content = tokenContent(raw);
  if (content === undefined || content === '') throw malformed(path, `${where} has no content`);
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) throw malformed(path, `${where} has a bad id ${JSON.stringify(id)}`);
  const r = isRecord(raw) ? raw : {};
  return {
    id, content,
    special: typeof r.special === 'boolean' ? r.special : special,
    lstrip: r.lstrip === true,
    rstrip: r.rstrip === true,
  };
}

function parseTokenizerJson(path: string, text: string, spec: Partial<TokenizerSpec>): void {
  const json = parseJson(path, text);
  if (!isRecord(json) || !isRecord(json.model)) throw malformed(path, 'it has no "model" object');
  const model = json.model;
  if (model.type !== undefined && model.type !== 'BPE') {
    throw new GptNeoError('ERR_GPTNEO_TOKENIZER', `Unsupported tokenizer model ${JSON.stringify(model.type)} in ${path}: only byte-level BPE is supported`);
  }
  const pre = json.pre_tokenizer;
  if (isRecord(pre) && pre.type !== 'ByteLevel') {
    throw new GptNeoError('ERR_GPTNEO_TOKENIZER', `Unsupported pre_tokenizer ${JSON.stringify(pre.type)} in ${path}: only GPT-2's ByteLevel is supported`);
  }
  if (isRecord(pre) && typeof pre.add_prefix_space === 'boolean') spec.addPrefixSpace = pre.add_prefix_space;
  spec.vocab = parseVocab(path, model.vocab);
  spec.merges = parseMergesArray(path, model.merges ?? []);
  spec.vocabSource = spec.mergesSource = path;
  const added = json.added_tokens ?? [];
  if (!Array.isArray(added)) throw malformed(path, 'added_tokens must be an array');
  spec.addedTokens = added.map((t, i) => addedToken(path, `added_tokens[${i}]`, t, isRecord(t) ? t.id : undefined, false));
}

type SpecialName = 'bosToken' | 'eosToken' | 'unkToken' | 'padToken';
const SPECIAL_KEYS: Array<[string, SpecialName]> = [['bos_token', 'bosToken'], ['eos_token', 'eosToken'], ['unk_token', 'unkToken'], ['pad_token', 'padToken']];

/** special_tokens_map.json / tokenizer_config.json: named special tokens and extra options. */
function applyConfig(path: string, text: string, spec: Partial<TokenizerSpec>, extraSpecial: string[]): void {
  const json = parseJson(path, text);
  if (!isRecord(json)) throw malformed(path, 'expected a JSON object');
  for (const [key, name] of SPECIAL_KEYS) {
    if (json[key] === null) delete spec[name];
    const content = tokenContent(json[key]);
    if (content !== undefined) spec[name] = content;
  }
  if (Array.isArray(json.additional_special_tokens)) {
    for (const t of json.additional_special_tokens) {
      const content = tokenContent(t);
      if (content !== undefined) extraSpecial.push(content);
    }
  }
  if (typeof json.add_prefix_space === 'boolean') spec.addPrefixSpace = json.add_prefix_space;
  if (isRecord(json.added_tokens_decoder)) {
    for (const [id, t] of Object.entries(json.added_tokens_decoder)) {
      spec.addedTokens!.push(addedToken(path, `added_tokens_decoder[${id}]`, t, Number(id), true));
    }
  }
}

/** added_tokens.json: { "token": id } for tokens added to a slow tokenizer. */
function applyAddedTokensJson(path: string, text: string, spec: Partial<TokenizerSpec>): void {
  const json = parseJson(path, text);
  if (!isRecord(json)) throw malformed(path, 'expected a JSON object of token → id');
  for (const [content, id] of Object.entries(json)) spec.addedTokens!.push(addedToken(path, `token ${JSON.stringify(content)}`, content, id, false));
}

/** Builds the spec from files read according to `plan`. */
export function parseTokenizerFiles(plan: TokenizerFilePlan, contents: FileContents): TokenizerSpec {
  const spec: Partial<TokenizerSpec> = {
    addedTokens: [], addPrefixSpace: false,
    bosToken: GPT2_DEFAULT_SPECIAL, eosToken: GPT2_DEFAULT_SPECIAL, unkToken: GPT2_DEFAULT_SPECIAL,
  };
  if (plan.main.kind === 'tokenizer.json') {
    parseTokenizerJson(plan.main.path, contents.get(plan.main.path)!, spec);
  } else {
    const { vocabPath, mergesPath } = plan.main;
    const vocabText = contents.get(vocabPath)!;
    spec.vocab = scanVocabJson(vocabText) ?? parseVocab(vocabPath, parseJson(vocabPath, vocabText));
    spec.merges = parseMergesTxt(mergesPath, contents.get(mergesPath)!);
    spec.vocabSource = vocabPath;
    spec.mergesSource = mergesPath;
  }
  const extraSpecial: string[] = [];
  const { optional } = plan;
  if (optional['added_tokens.json']) applyAddedTokensJson(optional['added_tokens.json'], contents.get(optional['added_tokens.json'])!, spec);
  if (optional['special_tokens_map.json']) applyConfig(optional['special_tokens_map.json'], contents.get(optional['special_tokens_map.json'])!, spec, extraSpecial);
  if (optional['tokenizer_config.json']) applyConfig(optional['tokenizer_config.json'], contents.get(optional['tokenizer_config.json'])!, spec, extraSpecial);
  // Named special tokens are matched in text like added tokens when they are in the vocabulary
  // (the slow GPT2Tokenizer registers them in its added-token trie); Vocabulary resolves them.
  const full = spec as TokenizerSpec;
  full.specialNames = [full.bosToken, full.eosToken, full.unkToken, full.padToken, ...extraSpecial]
    .filter((c): c is string => c !== undefined);
  return full;
}
