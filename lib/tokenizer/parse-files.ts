/**
 * Turns the text of a tokenizer's files into a TokenizerSpec, with errors that name the file.
 */
import { GptNeoError } from '../errors.js';
import type { FileContents, TokenizerFilePlan } from './files.js';
import type { AddedTokenSpec, TokenizerSpec } from './spec.js';
import { scanFlatVocab } from './vocab-json.js';

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

function parseVocab(path: string, value: unknown): Map<string, number> {
  if (!isRecord(value)) throw malformed(path, 'the vocabulary must be a JSON object of token → id');
  const vocab = new Map<string, number>();
  for (const key in value) {
    const id = value[key];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0x7ffffffe) {
      throw malformed(path, `token ${JSON.stringify(key)} has id ${JSON.stringify(id)}; ids must be non-negative integers`);
    }
    vocab.set(key, id);
  }
  if (vocab.size === 0) throw malformed(path, 'the vocabulary is empty');
  return vocab;
}

/** Merge rules as two parallel arrays of symbols. */
interface MergeLists {
  lefts: string[];
  rights: string[];
}

function pushMerge(path: string, line: string, where: string, out: MergeLists): void {
  const space = line.indexOf(' ');
  if (space <= 0 || space === line.length - 1 || line.indexOf(' ', space + 1) !== -1) {
    throw malformed(path, `${where}: expected two symbols separated by one space, got ${JSON.stringify(line)}`);
  }
  out.lefts.push(line.slice(0, space));
  out.rights.push(line.slice(space + 1));
}

/** merges.txt: an optional `#version` line, then one `left right` rule per line. */
export function parseMergesTxt(path: string, text: string): MergeLists {
  const out: MergeLists = { lefts: [], rights: [] };
  let lineNo = 0;
  for (let pos = 0; pos < text.length;) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    lineNo++;
    let line = text.slice(pos, nl);
    pos = nl + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '' || (lineNo === 1 && line.startsWith('#version'))) continue;
    pushMerge(path, line, `line ${lineNo}`, out);
  }
  return out;
}

/** tokenizer.json's model.merges: "a b" strings or ["a", "b"] pairs. */
function parseMergesArray(path: string, value: unknown): MergeLists {
  if (!Array.isArray(value)) throw malformed(path, 'model.merges must be an array');
  const out: MergeLists = { lefts: [], rights: [] };
  value.forEach((m, i) => {
    if (typeof m === 'string') pushMerge(path, m, `model.merges[${i}]`, out);
    else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      out.lefts.push(m[0]);
      out.rights.push(m[1]);
    } else throw malformed(path, `model.merges[${i}] must be "a b" or ["a", "b"]`);
  });
  return out;
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
  const merges = parseMergesArray(path, model.merges ?? []);
  spec.mergeLefts = merges.lefts;
  spec.mergeRights = merges.rights;
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
    spec.vocab = scanFlatVocab(vocabText) ?? parseVocab(vocabPath, parseJson(vocabPath, vocabText));
    const merges = parseMergesTxt(mergesPath, contents.get(mergesPath)!);
    spec.mergeLefts = merges.lefts;
    spec.mergeRights = merges.rights;
    spec.vocabSource = vocabPath;
    spec.mergesSource = mergesPath;
  }
  const extraSpecial: string[] = [];
  const { optional } = plan;
  if (optional['added_tokens.json']) applyAddedTokensJson(optional['added_tokens.json'], contents.get(optional['added_tokens.json'])!, spec);
  if (optional['special_tokens_map.json']) applyConfig(optional['special_tokens_map.json'], contents.get(optional['special_tokens_map.json'])!, spec, extraSpecial);
  if (optional['tokenizer_config.json']) applyConfig(optional['tokenizer_config.json'], contents.get(optional['tokenizer_config.json'])!, spec, extraSpecial);
  // Named special tokens that are in the vocabulary are matched in text like added tokens
  // (the slow GPT2Tokenizer registers them in its added-token trie).
  const full = spec as TokenizerSpec;
  const known = new Set(full.addedTokens.map((t) => t.content));
  for (const content of [full.bosToken, full.eosToken, full.unkToken, full.padToken, ...extraSpecial]) {
    if (content === undefined || known.has(content)) continue;
    const id = full.vocab.get(content);
    if (id !== undefined) {
      full.addedTokens.push({ id, content, special: true, lstrip: false, rstrip: false });
      known.add(content);
    }
  }
  return full;
}
