// Tokenizer loading options and bad input: special-token files, add_prefix_space, lstrip/rstrip,
// typed errors for bad arguments, out-of-range ids and missing or malformed files. Uses a tiny
// byte-level vocabulary written to a temporary directory, so every load is instant.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isGptNeoError, type GptNeoErrorCode } from '../lib/errors.js';
import { Tokenizer } from '../lib/tokenizer/index.js';

/** GPT-2's byte alphabet (bytes_to_unicode), written out independently of the library. */
function byteSymbols(): string[] {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(printable(b) ? b : next++));
  return out;
}

// 256 bytes, then Ġt (256), he (257), Ġthe (258), <|endoftext|> (259).
const BYTES = byteSymbols();
const TINY_VOCAB: Record<string, number> = Object.fromEntries(BYTES.map((s, i) => [s, i]));
Object.assign(TINY_VOCAB, { 'Ġt': 256, he: 257, 'Ġthe': 258, '<|endoftext|>': 259 });
const TINY_MERGES = '#version: 0.2\nĠ t\nh e\nĠt he\n';

function rejectsWith(fn: () => unknown, code: GptNeoErrorCode, mention?: string | RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isGptNeoError(e, code), `expected ${code}, got ${String(e)}`);
    if (mention !== undefined) {
      if (typeof mention === 'string') assert.ok(e.message.includes(mention), `message ${JSON.stringify(e.message)} should mention ${mention}`);
      else assert.match(e.message, mention);
    }
    return true;
  });
}

async function rejectsAsync(p: Promise<unknown>, code: GptNeoErrorCode, mention: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isGptNeoError(e, code), `expected ${code}, got ${String(e)}`);
    assert.ok(e.message.includes(mention), e.message);
    return true;
  });
}

describe('10 tokenizer: files and options', () => {
  let root: string;
  let n = 0;
  /** A fresh directory holding the given files. */
  const dirWith = (files: Record<string, string>): string => {
    const dir = join(root, `case${n++}`);
    mkdirSync(dir);
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
    return dir;
  };
  const tinyFiles = (): Record<string, string> => ({ 'vocab.json': JSON.stringify(TINY_VOCAB), 'merges.txt': TINY_MERGES });

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'gptneo-tokfiles-'));
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  it('applies the merges of a tiny vocabulary and GPT2Tokenizer defaults for special tokens', () => {
    const tok = Tokenizer.fromDirSync(dirWith(tinyFiles()));
    assert.equal(tok.vocabSize, 260);
    assert.deepEqual(tok.encode(' the'), [258]);
    assert.deepEqual(tok.encode('the the'), [116, 257, 258]);
    assert.deepEqual(tok.encode('a<|endoftext|>'), [97, 259]);
    assert.equal(tok.eosTokenId, 259);
    assert.equal(tok.bosTokenId, 259);
    assert.equal(tok.padTokenId, undefined);
    assert.equal(tok.decode([116, 257, 258, 259]), 'the the<|endoftext|>');
  });

  it('reads special_tokens_map.json and tokenizer_config.json (strings or AddedToken objects)', () => {
    const vocab = { ...TINY_VOCAB, '<pad>': 260, '<s>': 261 };
    const tok = Tokenizer.fromDirSync(dirWith({
      'vocab.json': JSON.stringify(vocab), 'merges.txt': TINY_MERGES,
      'special_tokens_map.json': JSON.stringify({ bos_token: '<s>', eos_token: { content: '<|endoftext|>', lstrip: false }, pad_token: '<pad>' }),
      'tokenizer_config.json': JSON.stringify({ add_prefix_space: false, model_max_length: 2048 }),
    }));
    assert.equal(tok.bosTokenId, 261);
    assert.equal(tok.eosTokenId, 259);
    assert.equal(tok.padTokenId, 260);
    assert.deepEqual(tok.encode('<s>he<pad>'), [261, 257, 260]);
    assert.deepEqual(tok.encode('<s>', { allowSpecial: false }), [60, 115, 62]);
  });

  it('honours add_prefix_space, shifting offsets back onto the caller\'s text', () => {
    const tok = Tokenizer.fromDirSync(dirWith({ ...tinyFiles(), 'tokenizer_config.json': JSON.stringify({ add_prefix_space: true }) }));
    assert.deepEqual(tok.encode('the'), [258]);
    assert.deepEqual(tok.encodeWithOffsets('the he'), { ids: [258, 32, 257], offsets: [[0, 3], [3, 4], [4, 6]] });
  });

  it('strips whitespace beside added tokens that say lstrip / rstrip', () => {
    const tok = Tokenizer.fromDirSync(dirWith({
      ...tinyFiles(),
      'tokenizer_config.json': JSON.stringify({ added_tokens_decoder: { 260: { content: '<mask>', lstrip: true, rstrip: true, special: true } } }),
    }));
    assert.equal(tok.vocabSize, 261);
    assert.deepEqual(tok.encode('he  <mask>  he'), [257, 260, 257]);
    assert.equal(tok.decode([257, 260]), 'he<mask>');
    assert.deepEqual(tok.encode('he<mask>', { allowSpecial: false }), [257, 60, 109, 97, 115, 107, 62]);
  });

  it('says whether a directory has tokenizer files', () => {
    assert.equal(Tokenizer.hasTokenizerFiles(dirWith(tinyFiles())), true);
    assert.equal(Tokenizer.hasTokenizerFiles(dirWith({ 'vocab.json': '{}' })), false, 'merges.txt missing');
    assert.equal(Tokenizer.hasTokenizerFiles(dirWith({ 'tokenizer.json': '{}' })), true);
    assert.equal(Tokenizer.hasTokenizerFiles(join(root, 'nope')), false);
    assert.equal(Tokenizer.hasTokenizerFiles(42 as unknown as string), false);
  });

  it('reports missing files with ERR_GPTNEO_FILE_NOT_FOUND naming the file', async () => {
    const missing = join(root, 'does-not-exist');
    rejectsWith(() => Tokenizer.fromDirSync(missing), 'ERR_GPTNEO_FILE_NOT_FOUND', missing);
    await rejectsAsync(Tokenizer.fromDir(missing), 'ERR_GPTNEO_FILE_NOT_FOUND', missing);
    const empty = dirWith({});
    rejectsWith(() => Tokenizer.fromDirSync(empty), 'ERR_GPTNEO_FILE_NOT_FOUND', 'tokenizer.json');
    const noMerges = dirWith({ 'vocab.json': JSON.stringify(TINY_VOCAB) });
    rejectsWith(() => Tokenizer.fromDirSync(noMerges), 'ERR_GPTNEO_FILE_NOT_FOUND', join(noMerges, 'merges.txt'));
    rejectsWith(() => Tokenizer.fromFileSync(join(missing, 'tokenizer.json')), 'ERR_GPTNEO_FILE_NOT_FOUND', 'tokenizer.json');
    rejectsWith(() => Tokenizer.fromFileSync(empty), 'ERR_GPTNEO_FILE_NOT_FOUND', 'not a file');
    await rejectsAsync(Tokenizer.fromFile(join(missing, 'vocab.json')), 'ERR_GPTNEO_FILE_NOT_FOUND', 'vocab.json');
  });

  it('reports malformed files with ERR_GPTNEO_TOKENIZER naming the file', async () => {
    const bad = (files: Record<string, string>, mention: string | RegExp): void => {
      const dir = dirWith(files);
      rejectsWith(() => Tokenizer.fromDirSync(dir), 'ERR_GPTNEO_TOKENIZER', mention);
    };
    bad({ 'vocab.json': '{"a": ', 'merges.txt': '' }, /vocab\.json.*JSON|JSON.*vocab\.json/);
    bad({ 'vocab.json': '["a"]', 'merges.txt': '' }, 'vocab.json');
    bad({ 'vocab.json': JSON.stringify({ ...TINY_VOCAB, x: 1.5 }), 'merges.txt': '' }, 'vocab.json');
    bad({ 'vocab.json': JSON.stringify({ ...TINY_VOCAB, x: -3 }), 'merges.txt': '' }, 'vocab.json');
    bad({ 'vocab.json': JSON.stringify({ a: 0 }), 'merges.txt': '' }, /vocab\.json.*byte/);
    bad({ 'vocab.json': JSON.stringify({ ...TINY_VOCAB, far: 999999999 }), 'merges.txt': '' }, /vocab\.json.*999999999/);
    bad({ 'vocab.json': JSON.stringify(TINY_VOCAB), 'merges.txt': '#version: 0.2\nĠ t x\n' }, /merges\.txt.*line 2/);
    bad({ 'vocab.json': JSON.stringify(TINY_VOCAB), 'merges.txt': 'q z\n' }, /merges\.txt.*"qz"/);
    bad({ 'tokenizer.json': '{"model": ' }, 'tokenizer.json');
    bad({ 'tokenizer.json': '{"version": "1.0"}' }, /tokenizer\.json.*model/);
    bad({ 'tokenizer.json': JSON.stringify({ model: { type: 'WordPiece', vocab: {} } }) }, /WordPiece.*tokenizer\.json/);
    bad({ 'tokenizer.json': JSON.stringify({ model: { type: 'BPE', vocab: TINY_VOCAB, merges: [['Ġ', 't', 'x']] } }) }, /tokenizer\.json.*merges\[0\]/);
    bad({ 'tokenizer.json': JSON.stringify({ model: { type: 'BPE', vocab: TINY_VOCAB, merges: [] }, pre_tokenizer: { type: 'Whitespace' } }) }, 'Whitespace');
    bad({ ...tinyFiles(), 'special_tokens_map.json': 'not json' }, 'special_tokens_map.json');
    const dir = dirWith({ 'vocab.json': '{"a": ', 'merges.txt': '' });
    await rejectsAsync(Tokenizer.fromDir(dir), 'ERR_GPTNEO_TOKENIZER', 'vocab.json');
  });

  it('rejects non-string paths with ERR_GPTNEO_INVALID_ARGUMENT', async () => {
    rejectsWith(() => Tokenizer.fromDirSync(42 as unknown as string), 'ERR_GPTNEO_INVALID_ARGUMENT', 'dir');
    rejectsWith(() => Tokenizer.fromFileSync(undefined as unknown as string), 'ERR_GPTNEO_INVALID_ARGUMENT', 'path');
    await assert.rejects(Tokenizer.fromDir(null as unknown as string), (e: unknown) => isGptNeoError(e, 'ERR_GPTNEO_INVALID_ARGUMENT'));
  });

  it('rejects bad encode input with ERR_GPTNEO_INVALID_ARGUMENT', () => {
    const tok = Tokenizer.fromDirSync(dirWith(tinyFiles()));
    for (const v of [42, null, undefined, {}, ['a'], Buffer.from('a')]) {
      rejectsWith(() => tok.encode(v as unknown as string), 'ERR_GPTNEO_INVALID_ARGUMENT', 'Expected string for text but received');
      rejectsWith(() => tok.encodeWithOffsets(v as unknown as string), 'ERR_GPTNEO_INVALID_ARGUMENT', 'text');
    }
    rejectsWith(() => tok.encode('a', { allowSpecial: 'yes' as unknown as boolean }), 'ERR_GPTNEO_INVALID_ARGUMENT', 'options.allowSpecial');
    rejectsWith(() => tok.encode('a', { allowspecial: true } as unknown as { allowSpecial: boolean }), 'ERR_GPTNEO_INVALID_ARGUMENT', 'allowspecial');
    rejectsWith(() => tok.encode('a', 'all' as unknown as { allowSpecial: boolean }), 'ERR_GPTNEO_INVALID_ARGUMENT', 'options');
    rejectsWith(() => tok.encodeBatch('abc' as unknown as string[]), 'ERR_GPTNEO_INVALID_ARGUMENT', 'texts');
    rejectsWith(() => tok.encodeBatch(['a', 7 as unknown as string]), 'ERR_GPTNEO_INVALID_ARGUMENT', 'texts[1]');
    rejectsWith(() => tok.tokenToId(5 as unknown as string), 'ERR_GPTNEO_INVALID_ARGUMENT', 'token');
  });

  it('rejects bad ids: non-integers with ERR_GPTNEO_INVALID_ARGUMENT, out of range with ERR_GPTNEO_TOKEN_OUT_OF_RANGE', () => {
    const tok = Tokenizer.fromDirSync(dirWith({
      ...tinyFiles(),
      'added_tokens.json': JSON.stringify({ '<far>': 300 }), // leaves ids 260..299 unassigned
    }));
    assert.equal(tok.vocabSize, 301);
    assert.equal(tok.decode([300]), '<far>');
    for (const v of ['abc', 5, null, undefined, { length: 1, 0: 1 }]) {
      rejectsWith(() => tok.decode(v as unknown as number[]), 'ERR_GPTNEO_INVALID_ARGUMENT', 'ids');
    }
    for (const id of [1.5, NaN, Infinity, '1', null, 2n]) {
      rejectsWith(() => tok.decode([97, id as unknown as number]), 'ERR_GPTNEO_INVALID_ARGUMENT', 'ids[1]');
      rejectsWith(() => tok.createStreamDecoder().push(id as unknown as number), 'ERR_GPTNEO_INVALID_ARGUMENT', 'id');
    }
    for (const id of [-1, 301, 2 ** 40, 270]) {
      rejectsWith(() => tok.decode([id]), 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE', String(id));
      rejectsWith(() => tok.idToToken(id), 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE', String(id));
      rejectsWith(() => tok.createStreamDecoder().push(id), 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE', String(id));
    }
    rejectsWith(() => tok.decode(new Float64Array([0.5])), 'ERR_GPTNEO_INVALID_ARGUMENT', 'ids[0]');
    rejectsWith(() => tok.decodeBatch([[97], [999]]), 'ERR_GPTNEO_TOKEN_OUT_OF_RANGE', '999');
  });
});
