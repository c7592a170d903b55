// The string-free vocabulary index and the vocab.json scanner that fills it, checked against
// JSON.parse: every key of GPT-2's vocab.json, escaped keys, repeated keys, odd and truncated
// input, growth past the first capacity, and range lookups as merge resolution makes them.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../lib/tokenizer/index.js';
import { utf16Units } from '../lib/tokenizer/utf16-units.js';
import { hashString, hashUnits, VocabIndex } from '../lib/tokenizer/vocab-index.js';
import { scanVocabJson } from '../lib/tokenizer/vocab-json.js';
import { fixture } from './helpers/paths.js';

/** The index's entries as an object, to compare with JSON.parse's. */
const asObject = (index: VocabIndex): Record<string, number> => Object.fromEntries(index.entries());

/** Asserts that the index holds exactly the keys and ids of the JSON object text. */
function assertSameAsJsonParse(index: VocabIndex | undefined, text: string): void {
  assert.ok(index !== undefined, 'the scanner declined a well-formed vocabulary');
  const expected = JSON.parse(text) as Record<string, number>;
  const keys = Object.keys(expected);
  assert.equal(index.count, keys.length);
  for (const key of keys) assert.equal(index.get(key), expected[key], `key ${JSON.stringify(key)}`);
  assert.deepEqual(asObject(index), expected);
  assert.equal(index.maxId(), keys.length === 0 ? -1 : Math.max(...Object.values(expected)));
}

describe('10 tokenizer: vocabulary index', () => {
  it('finds every key of GPT-2\'s vocab.json with the id JSON.parse gives it', () => {
    const text = readFileSync(fixture('tokenizer', 'vocab.json'), 'utf8');
    assert.ok(text.includes('\\u0120'), 'the fixture spells most keys with escapes');
    assertSameAsJsonParse(scanVocabJson(text), text);
  });

  it('decodes every JSON escape in keys, surrogates (paired or not) included', () => {
    const keys = ['"', '\\', '/', '\b\f\n\r\t', 'Ġthe', 'éÉ', '😀', '\ud800', 'x\udc00y', 'plain', 'mixedAb', '', ' ', '\u2028'];
    const text = `{${keys.map((k, i) => `${JSON.stringify(k)}: ${i}`).join(', ')}}`;
    assertSameAsJsonParse(scanVocabJson(text), text);
    // Spellings JSON.stringify does not produce: \/ , \u with either case, escapes of plain characters.
    const odd = '{"\\/a": 1, "\\u00E9\\u00e9": 2, "\\u0041\\u0042": 3, "a\\u0020b": 4}';
    assertSameAsJsonParse(scanVocabJson(odd), odd);
    assert.equal(scanVocabJson(odd)!.get('AB'), 3);
  });

  it('declines (for JSON.parse to report) what it does not read, and never hangs, on truncated and odd input', () => {
    const full = JSON.stringify({ a: 0, 'b\\"c': 12, '\u0120the': 262, '\\u00e9': 7, x: 3 }, null, 1);
    for (let cut = 0; cut <= full.length; cut++) {
      const text = full.slice(0, cut);
      const scanned = scanVocabJson(text);
      if (scanned !== undefined) assertSameAsJsonParse(scanned, text);
    }
    assertSameAsJsonParse(scanVocabJson(full), full);
    for (const odd of ['{"a": 1.5}', '{"a": -1}', '{"a": 01}', '{"a": 1e3}', '{"a": 1,}', '{"a": 1} x', '[]', '{"a\n": 1}',
      '{"\\x": 1}', '{"\\u12": 1}', '{"\\u12G4": 1}', '{"a\\', '{"\\u00', '{"a" 1}', '{"a":}', '{"a": 1 "b": 2}', '{"a": 1234567890}']) {
      assert.equal(scanVocabJson(odd), undefined, odd);
    }
    assertSameAsJsonParse(scanVocabJson('\ufeff{}'), '{}');
    assertSameAsJsonParse(scanVocabJson(' {\n\t"a" :\r\n 1 ,\n "b":2 }\n'), '{"a": 1, "b": 2}');
  });

  it('keeps the last id of a repeated key, in the place where the key first came', () => {
    const index = scanVocabJson('{"a": 1, "b": 2, "a": 3}')!;
    assert.deepEqual([...index.entries()], [['a', 3], ['b', 2]]);
    assert.equal(index.maxId(), 3);
    assert.equal(scanVocabJson('{"a": 9, "b": 2, "a": 1}')!.maxId(), 2, 'the largest id was taken back');
    assert.equal(scanVocabJson('{"a": 5, "a": 7}')!.maxId(), 7);
    const fromKeys = VocabIndex.fromKeys(['x', 'y', 'x'], [4, 5, 6]);
    assert.deepEqual([...fromKeys.entries()], [['x', 6], ['y', 5]]);
    assert.equal(fromKeys.get('z'), undefined);
  });

  it('grows past its first capacity and still finds every key', () => {
    const vocab: Record<string, number> = {};
    for (let i = 0; i < 5000; i++) vocab[`k${i}`] = i;
    const compact = JSON.stringify(vocab); // about 11 characters a key: more keys than the scanner's first guess
    assertSameAsJsonParse(scanVocabJson(compact), compact);
    const fromKeys = VocabIndex.fromKeys(Object.keys(vocab), Object.values(vocab));
    for (const [key, id] of Object.entries(vocab)) assert.equal(fromKeys.get(key), id);
  });

  it('looks up ranges of other text, alone and two in a row, with the hash of the string', () => {
    const index = VocabIndex.fromKeys(['Ġ', 't', 'Ġt', 'he', 'Ġthe', '\ud800x'], [0, 1, 2, 3, 4, 5]);
    const units = utf16Units('Ġ t\nĠt he\n\ud800x');
    assert.deepEqual([...utf16Units('a\ud800\udc00b\udc00')], [0x61, 0xd800, 0xdc00, 0x62, 0xdc00], 'lone surrogates kept');
    assert.equal(hashUnits(units, 7, 9), hashString('he'));
    assert.equal(hashUnits(units, 7, 9, hashUnits(units, 5, 6)), hashString('the'));
    const idAt = (e: number): number => (e < 0 ? -1 : index.idAt(e));
    assert.equal(idAt(index.find(units, 0, 1, hashUnits(units, 0, 1))), 0);
    assert.equal(idAt(index.find(units, 4, 6, hashUnits(units, 4, 6))), 2);
    assert.equal(idAt(index.find(units, 10, 12, hashUnits(units, 10, 12))), 5);
    assert.equal(index.find(units, 0, 3, hashUnits(units, 0, 3)), -1, '"Ġ t" is not a key');
    const joined = (ls: number, le: number, rs: number, re: number): number =>
      idAt(index.findJoined(units, ls, le, rs, re, hashUnits(units, rs, re, hashUnits(units, ls, le))));
    assert.equal(joined(0, 1, 2, 3), 2); // Ġ + t
    assert.equal(joined(4, 6, 7, 9), 4); // Ġt + he
    assert.equal(joined(7, 9, 0, 1), -1); // heĠ
  });
});

describe('10 tokenizer: symbols from the index', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gptneo-vocabindex-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('gives every id of GPT-2 the symbol vocab.json gives it, and back', () => {
    const vocab = JSON.parse(readFileSync(fixture('tokenizer', 'vocab.json'), 'utf8')) as Record<string, number>;
    const tok = Tokenizer.fromDirSync(fixture('tokenizer'));
    for (const [symbol, id] of Object.entries(vocab)) {
      assert.equal(tok.tokenToId(symbol), id);
      assert.equal(tok.idToToken(id), symbol);
    }
    assert.deepEqual(tok.idsToTokens([464, 2068, 50256]), ['The', 'Ġquick', '<|endoftext|>']);
    assert.equal(tok.tokenToId('Ġnot-a-token'), undefined);
  });

  it('reads tokenizer.json vocabularies (escaped and odd keys) like vocab.json', () => {
    const bytes: string[] = [];
    const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    let next = 256;
    for (let b = 0; b < 256; b++) bytes.push(String.fromCharCode(printable(b) ? b : next++));
    const vocab: Record<string, number> = Object.fromEntries(bytes.map((s, i) => [s, i]));
    Object.assign(vocab, { 'Ġ"': 256, '"\\': 257, 'Ġ"\\': 258, '\u00e9t\u00e9': 300, '<|endoftext|>': 301, '中文': 302 });
    const merges = ['Ġ "', '" \\', 'Ġ" \\'];
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab, merges } }));
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab));
    writeFileSync(join(dir, 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
    const fromJson = Tokenizer.fromFileSync(join(dir, 'tokenizer.json'));
    const fromPair = Tokenizer.fromFileSync(join(dir, 'vocab.json'));
    for (const tok of [fromJson, fromPair]) {
      assert.equal(tok.vocabSize, 303);
      assert.equal(tok.decode([302, 116]), '中文t', 'a symbol outside the byte alphabet decodes as its own UTF-8');
      assert.deepEqual(tok.encode(' "\\'), [258]);
      assert.equal(tok.idToToken(300), '\u00e9t\u00e9');
      assert.equal(tok.tokenToId('Ġ"\\'), 258);
      assert.throws(() => tok.idToToken(299), /unassigned/);
    }
  });
});
