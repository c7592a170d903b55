/**
 * GPT-2 byte-level BPE tokenizer, identical to Hugging Face's GPT2Tokenizer (and the fast
 * tokenizer built from the same files), written for speed: a hand-coded pre-tokenizer, integer
 * merge tables and a bounded piece cache.
 */
import { expectBoolean, expectKnownKeys, expectObject, expectString, invalid } from '../validate.js';
import { AddedTokenMatcher } from './added-tokens.js';
import { checkIdList, checkTokenId, decodeIds } from './decode.js';
import { hasTokenizerFiles, planDir, planFile, readPlan, readPlanSync } from './files.js';
import { appendPieceOffsets } from './offsets.js';
import { parseTokenizerFiles } from './parse-files.js';
import { PieceEncoder } from './piece-encoder.js';
import { pieceEnd } from './pre-tokenize.js';
import type { AddedTokenSpec, TokenizerSpec } from './spec.js';
import { StreamDecoder } from './stream-decoder.js';
import { Vocabulary } from './vocabulary.js';

export interface EncodeOptions {
  /**
   * Whether special tokens written in the text (e.g. `<|endoftext|>`) become their ids
   * (default true, as Hugging Face does). With false they are encoded as ordinary text.
   */
  allowSpecial?: boolean;
}

export interface EncodingWithOffsets {
  ids: number[];
  /**
   * [start, end) UTF-16 indices into the input for each id (see offsets.ts for tokens that
   * hold part of a character: they get the whole character's span).
   */
  offsets: Array<[number, number]>;
}

const ENCODE_OPTION_KEYS = ['allowSpecial'] as const;

/**
 * A GPT-2 byte-level BPE tokenizer (GPT-Neo uses GPT-2's).
 *
 *   const tok = await Tokenizer.fromDir('path/to/model');   // tokenizer.json or vocab.json + merges.txt
 *   tok.encode('Hello <|endoftext|>');                      // [15496, 220, 50256]
 *   tok.decode([15496, 11, 995]);                           // 'Hello, world'
 *
 * - `encode` equals Hugging Face's `GPT2Tokenizer.encode` (no BOS added, no text normalisation);
 *   added/special tokens in the text become their ids unless `allowSpecial: false`.
 * - `decode` is byte-exact (no clean-up of spaces); invalid UTF-8 becomes U+FFFD like Python's
 *   errors='replace'.
 * - A lone surrogate in the input (which Python strings cannot even hold) is encoded as the bytes
 *   of U+FFFD, so `decode(encode(s))` is `s` with each lone surrogate replaced by U+FFFD.
 * - Offsets (`encodeWithOffsets`) are UTF-16 indices; a token holding part of a character's
 *   bytes spans that whole character (see offsets.ts).
 * Bad arguments throw GptNeoError (ERR_GPTNEO_INVALID_ARGUMENT, ERR_GPTNEO_TOKEN_OUT_OF_RANGE);
 * bad files ERR_GPTNEO_FILE_NOT_FOUND / ERR_GPTNEO_TOKENIZER, naming the file.
 */
export class Tokenizer {
  private readonly vocab: Vocabulary;
  private readonly matcher: AddedTokenMatcher;
  private readonly pieces: PieceEncoder;
  private readonly addPrefixSpace: boolean;
  /** Id of the end-of-text token, or undefined when the tokenizer has none. */
  readonly eosTokenId: number | undefined;
  /** Id of the beginning-of-text token, or undefined when the tokenizer has none. */
  readonly bosTokenId: number | undefined;
  /** Id of the padding token, or undefined when the tokenizer has none. */
  readonly padTokenId: number | undefined;
  /** Id of the unknown token, or undefined when the tokenizer has none. */
  readonly unkTokenId: number | undefined;

  private constructor(spec: TokenizerSpec) {
    this.vocab = new Vocabulary(spec);
    this.matcher = new AddedTokenMatcher(this.vocab.addedTokens);
    this.pieces = new PieceEncoder(this.vocab);
    this.addPrefixSpace = spec.addPrefixSpace;
    const idOf = (token: string | undefined): number | undefined => token === undefined ? undefined : this.vocab.idOf(token);
    this.eosTokenId = idOf(spec.eosToken);
    this.bosTokenId = idOf(spec.bosToken);
    this.padTokenId = idOf(spec.padToken);
    this.unkTokenId = idOf(spec.unkToken);
  }

  /**
   * Loads the tokenizer of a model directory: `tokenizer.json`, or `vocab.json` + `merges.txt`,
   * plus `special_tokens_map.json` / `tokenizer_config.json` / `added_tokens.json` when present.
   * Throws GptNeoError ERR_GPTNEO_FILE_NOT_FOUND or ERR_GPTNEO_TOKENIZER naming the file.
   */
  static async fromDir(dir: string): Promise<Tokenizer> {
    expectString('dir', dir);
    const plan = planDir(dir);
    return new Tokenizer(parseTokenizerFiles(plan, await readPlan(plan)));
  }

  /** Synchronous fromDir. */
  static fromDirSync(dir: string): Tokenizer {
    expectString('dir', dir);
    const plan = planDir(dir);
    return new Tokenizer(parseTokenizerFiles(plan, readPlanSync(plan)));
  }

  /** Loads a `tokenizer.json`, or a `vocab.json` with the `merges.txt` beside it. */
  static async fromFile(path: string): Promise<Tokenizer> {
    expectString('path', path);
    const plan = planFile(path);
    return new Tokenizer(parseTokenizerFiles(plan, await readPlan(plan)));
  }

  /** Synchronous fromFile. */
  static fromFileSync(path: string): Tokenizer {
    expectString('path', path);
    const plan = planFile(path);
    return new Tokenizer(parseTokenizerFiles(plan, readPlanSync(plan)));
  }

  /** True when `dir` holds tokenizer.json, or vocab.json and merges.txt. */
  static hasTokenizerFiles(dir: string): boolean {
    return hasTokenizerFiles(dir);
  }

  /** Number of token ids (one more than the largest id, added tokens included). */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** The added/special tokens matched verbatim in text. */
  get addedTokens(): readonly AddedTokenSpec[] {
    return this.matcher.tokens;
  }

  private static allowSpecialOf(options: EncodeOptions | undefined): boolean {
    if (options === undefined) return true;
    const o = expectObject('options', options);
    expectKnownKeys('options', o, ENCODE_OPTION_KEYS);
    return o.allowSpecial === undefined ? true : expectBoolean('options.allowSpecial', o.allowSpecial);
  }

  /** Text → token ids, exactly as Hugging Face's GPT2Tokenizer.encode. */
  encode(text: string, options?: EncodeOptions): number[] {
    if (typeof text !== 'string') throw invalid('string', 'text', text);
    const allowSpecial = Tokenizer.allowSpecialOf(options);
    const input = this.addPrefixSpace ? ' ' + text : text;
    const segments = this.matcher.split(input, allowSpecial);
    const out: number[] = [];
    for (let s = 0; s < segments.length; s += 3) {
      const id = segments[s + 2]!;
      if (id >= 0) { out.push(id); continue; }
      const end = segments[s + 1]!;
      for (let i = segments[s]!; i < end;) {
        const j = pieceEnd(input, i, end);
        this.pieces.encodeInto(input, i, j, out);
        i = j;
      }
    }
    return out;
  }

  /** Encodes each text of `texts`. */
  encodeBatch(texts: readonly string[], options?: EncodeOptions): number[][] {
    if (!Array.isArray(texts)) throw invalid('array of strings', 'texts', texts);
    return texts.map((t, i) => {
      if (typeof t !== 'string') throw invalid('string', `texts[${i}]`, t);
      return this.encode(t, options);
    });
  }

  /** Like encode, plus the [start, end) UTF-16 span of the input each token came from. */
  encodeWithOffsets(text: string, options?: EncodeOptions): EncodingWithOffsets {
    if (typeof text !== 'string') throw invalid('string', 'text', text);
    const allowSpecial = Tokenizer.allowSpecialOf(options);
    const shift = this.addPrefixSpace ? 1 : 0;
    const input = shift ? ' ' + text : text;
    const segments = this.matcher.split(input, allowSpecial);
    const ids: number[] = [];
    const offsets: Array<[number, number]> = [];
    const pieceIds: number[] = [];
    for (let s = 0; s < segments.length; s += 3) {
      const start = segments[s]!;
      const end = segments[s + 1]!;
      const id = segments[s + 2]!;
      if (id >= 0) {
        ids.push(id);
        offsets.push([Math.max(0, start - shift), end - shift]);
        continue;
      }
      for (let i = start; i < end;) {
        const j = pieceEnd(input, i, end);
        pieceIds.length = 0;
        this.pieces.encodeInto(input, i, j, pieceIds);
        appendPieceOffsets(input, i, j, pieceIds, this.vocab, offsets, shift);
        for (const p of pieceIds) ids.push(p);
        i = j;
      }
    }
    return { ids, offsets };
  }

  /**
   * Token ids → text, byte-exact (no clean-up of spaces). Incomplete or invalid UTF-8 becomes
   * U+FFFD as Python's errors='replace' does. Accepts arrays and typed arrays.
   */
  decode(ids: readonly number[] | ArrayLike<number>): string {
    return decodeIds(this.vocab, ids);
  }

  /** Decodes each id list of `batch`. */
  decodeBatch(batch: ReadonlyArray<readonly number[] | ArrayLike<number>>): string[] {
    if (!Array.isArray(batch)) throw invalid('array of id arrays', 'batch', batch);
    return batch.map((ids) => decodeIds(this.vocab, ids));
  }

  /** Id of a token given as its vocabulary symbol (byte alphabet, e.g. 'Ġthe'), or undefined. */
  tokenToId(token: string): number | undefined {
    expectString('token', token);
    return this.vocab.idOf(token);
  }

  /** Vocabulary symbol of an id (byte alphabet, e.g. 'Ġthe'; added tokens as written). */
  idToToken(id: number): string {
    return this.vocab.symbolOf(checkTokenId(this.vocab, id, 'id'))!;
  }

  /** Ids → vocabulary symbols, as Hugging Face's convert_ids_to_tokens. */
  idsToTokens(ids: readonly number[] | ArrayLike<number>): string[] {
    const list = checkIdList(ids, 'ids');
    return Array.from({ length: list.length }, (_, i) => this.vocab.symbolOf(checkTokenId(this.vocab, list[i], `ids[${i}]`))!);
  }

  /** A decoder for a stream of generated ids; see StreamDecoder. */
  createStreamDecoder(): StreamDecoder {
    return new StreamDecoder(this.vocab);
  }

  /** Drops the cache of encoded pieces (it is bounded; this only frees memory sooner). */
  clearCache(): void {
    this.pieces.clearCache();
  }
}
