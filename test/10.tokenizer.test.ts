// GPT-2 tokenizer against Hugging Face's slow GPT2Tokenizer (fixtures/tokenizer) and the
// GPT-Neo fixture prompts; file formats (vocab.json + merges.txt, tokenizer.json), special
// tokens, offsets and the stream decoder.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { preTokenize, Tokenizer } from '../lib/tokenizer/index.js';
import { fixture } from './helpers/paths.js';

interface EncodeCase {
  index: number;
  text: string;
  ids: number[];
  tokens: string[];
  decoded: string;
}
interface DecodeCase {
  ids: number[];
  text: string;
}
const cases = JSON.parse(readFileSync(fixture('tokenizer', 'tokenizer-cases.json'), 'utf8')) as {
  cases: EncodeCase[];
  decode_cases: DecodeCase[];
};

let gpt2: Tokenizer | undefined;
/** The GPT-2 tokenizer of fixtures/tokenizer, loaded once for this file. */
const loadGpt2 = (): Tokenizer => (gpt2 ??= Tokenizer.fromDirSync(fixture('tokenizer')));

describe('10 tokenizer: Hugging Face GPT2Tokenizer fixtures', () => {
  let tok: Tokenizer;
  before(() => {
    tok = loadGpt2();
  });

  it('has GPT-2 sizes and special ids', () => {
    assert.equal(cases.cases.length, 68);
    assert.equal(tok.vocabSize, 50257);
    assert.equal(tok.eosTokenId, 50256);
    assert.equal(tok.bosTokenId, 50256);
    assert.equal(tok.tokenToId('<|endoftext|>'), 50256);
    assert.equal(tok.idToToken(50256), '<|endoftext|>');
    assert.equal(tok.tokenToId('Ġthe'), 262);
    assert.equal(tok.idToToken(262), 'Ġthe');
    assert.equal(tok.tokenToId('no such token'), undefined);
  });

  it('encodes every case to the same ids and symbols as Hugging Face', () => {
    for (const c of cases.cases) {
      const ids = tok.encode(c.text);
      assert.deepEqual(ids, c.ids, `case ${c.index} ${JSON.stringify(c.text)}`);
      assert.deepEqual(tok.idsToTokens(ids), c.tokens, `tokens of case ${c.index}`);
    }
  });

  it('decodes every case losslessly', () => {
    for (const c of cases.cases) {
      assert.equal(tok.decode(c.ids), c.decoded, `case ${c.index}`);
      assert.equal(c.decoded, c.text);
    }
  });

  it('decodes the decode_cases (incomplete UTF-8 → U+FFFD like errors="replace", BOM kept)', () => {
    assert.ok(cases.decode_cases.length >= 10);
    for (const c of cases.decode_cases) {
      assert.equal(tok.decode(c.ids), c.text, `ids ${JSON.stringify(c.ids)}`);
      assert.equal(tok.decode(Int32Array.from(c.ids)), c.text, 'typed arrays decode too');
    }
  });

  it('follows Python regex \\s: U+0085 is whitespace, U+FEFF is not (cases 65, 66)', () => {
    const bom = cases.cases[65]!;
    const nel = cases.cases[66]!;
    assert.equal(bom.text, ' \ufeffabc');
    assert.equal(nel.text, 'a \u0085b');
    assert.deepEqual(tok.encode(bom.text), bom.ids);
    assert.deepEqual(tok.encode(nel.text), nel.ids);
  });

  it('pre-tokenizes like Python regex findall (pieces checked against the regex module)', () => {
    assert.deepEqual(preTokenize('double  space'), ['double', ' ', ' space']);
    assert.deepEqual(preTokenize(' \ufeffabc'), [' \ufeff', 'abc']);
    assert.deepEqual(preTokenize('a \x85b'), ['a', ' ', '\x85', 'b']);
    assert.deepEqual(preTokenize("HE'S he's"), ['HE', "'", 'S', ' he', "'s"]);
    assert.deepEqual(preTokenize('   \n   x'), ['   \n  ', ' x']);
    assert.deepEqual(preTokenize('x\u0301y 12ab'), ['x', '\u0301', 'y', ' 12', 'ab']);
    assert.deepEqual(preTokenize(''), []);
  });

  it('splits out <|endoftext|> keeping surrounding whitespace; near misses stay text', () => {
    assert.deepEqual(tok.encode('before <|endoftext|> after'), [19052, 220, 50256, 706]);
    assert.deepEqual(tok.encode('<|endoftext|><|endoftext|>'), [50256, 50256]);
    assert.deepEqual(tok.encode('<|endoftext|'), cases.cases[64]!.ids);
    assert.ok(!tok.encode('<|ENDOFTEXT|>').includes(50256));
  });

  it('allowSpecial: false encodes special tokens as ordinary text', () => {
    const asText = tok.encode('a<|endoftext|>b', { allowSpecial: false });
    assert.ok(!asText.includes(50256));
    assert.equal(tok.decode(asText), 'a<|endoftext|>b');
    assert.deepEqual(tok.encode('<|endoftext|>', { allowSpecial: false }), [27, 91, 437, 1659, 5239, 91, 29]);
    assert.deepEqual(tok.encode('<|endoftext|>', { allowSpecial: true }), [50256]);
  });

  it('encodeBatch encodes each text', () => {
    const texts = cases.cases.slice(0, 10).map((c) => c.text);
    assert.deepEqual(tok.encodeBatch(texts), cases.cases.slice(0, 10).map((c) => c.ids));
    assert.deepEqual(tok.encodeBatch([]), []);
  });

  it('encodes the empty string to no ids and decodes no ids to ""', () => {
    assert.deepEqual(tok.encode(''), []);
    assert.equal(tok.decode([]), '');
  });
});

describe('10 tokenizer: GPT-Neo fixture prompts (tiny-neo-gpt2vocab)', () => {
  it('loads vocab.json + merges.txt from the model directory and encodes the prompts', async () => {
    const dir = fixture('tiny-neo-gpt2vocab');
    assert.ok(Tokenizer.hasTokenizerFiles(dir));
    const tok = await Tokenizer.fromDir(dir);
    const ref = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8')) as {
      sequences: Array<{ prompt_text: string; input_ids: number[] }>;
    };
    assert.equal(ref.sequences.length, 3);
    for (const s of ref.sequences) {
      assert.deepEqual(tok.encode(s.prompt_text), s.input_ids);
      assert.equal(tok.decode(s.input_ids), s.prompt_text);
    }
  });
});

describe('10 tokenizer: offsets', () => {
  let tok: Tokenizer;
  before(() => {
    tok = loadGpt2();
  });

  it('gives UTF-16 spans per token; ids equal encode()', () => {
    const text = 'Hello, world! <|endoftext|>  x';
    const { ids, offsets } = tok.encodeWithOffsets(text);
    assert.deepEqual(ids, tok.encode(text));
    assert.deepEqual(offsets.map(([s, e]) => text.slice(s, e)), ['Hello', ',', ' world', '!', ' ', '<|endoftext|>', ' ', ' x']);
  });

  it('gives every token of a split character that whole character', () => {
    // ' 🍕' (space + U+1F355, 5 UTF-8 bytes) is three tokens in GPT-2 (' \xf0\x9f', '\x8d', '\x95');
    // the first spans the space and the surrogate pair, the other two just the surrogate pair.
    const text = 'I love pizza 🍕';
    const { ids, offsets } = tok.encodeWithOffsets(text);
    assert.deepEqual(ids, [40, 1842, 14256, 12520, 235, 243]);
    assert.deepEqual(offsets, [[0, 1], [1, 6], [6, 12], [12, 15], [13, 15], [13, 15]]);
    assert.equal(text.slice(12, 15), ' 🍕');
  });

  it('matches every fixture case: spans tile the text and decode to it for whole-character tokens', () => {
    for (const c of cases.cases) {
      const { ids, offsets } = tok.encodeWithOffsets(c.text);
      assert.deepEqual(ids, c.ids, `case ${c.index}`);
      assert.equal(offsets.length, ids.length);
      if (ids.length > 0) {
        assert.equal(offsets[0]![0], 0);
        assert.equal(offsets[offsets.length - 1]![1], c.text.length);
      }
      for (let i = 0; i < ids.length; i++) {
        const [s, e] = offsets[i]!;
        assert.ok(s < e, `case ${c.index} token ${i}`);
        if (i > 0) assert.ok(s >= offsets[i - 1]![0] && e >= offsets[i - 1]![1]);
        const piece = tok.decode([ids[i]!]);
        if (!piece.includes('\ufffd')) assert.equal(c.text.slice(s, e), piece, `case ${c.index} token ${i}`);
      }
    }
  });
});

describe('10 tokenizer: stream decoder', () => {
  let tok: Tokenizer;
  before(() => {
    tok = loadGpt2();
  });

  it('holds back incomplete UTF-8 and matches decode(all)', () => {
    const d = tok.createStreamDecoder();
    assert.equal(d.push(8582), '');  // first bytes of an emoji
    assert.equal(d.push(237), '');
    assert.equal(d.push(121), '🏽');
    assert.equal(d.push(464), 'The');
    assert.equal(d.flush(), '');
  });

  it('flushes an incomplete character as U+FFFD', () => {
    const d = tok.createStreamDecoder();
    assert.equal(d.push(447), '');
    assert.equal(d.flush(), '\ufffd');
    assert.equal(d.push(464), 'The', 'usable again after flush');
  });

  it('concatenation equals decode for every fixture case and decode case', () => {
    const lists = [...cases.cases.map((c) => c.ids), ...cases.decode_cases.map((c) => c.ids)];
    for (const ids of lists) {
      const d = tok.createStreamDecoder();
      let text = '';
      for (const id of ids) text += d.push(id);
      text += d.flush();
      assert.equal(text, tok.decode(ids));
    }
  });
});

describe('10 tokenizer: tokenizer.json format', () => {
  // A GPT-2 vocabulary cut to its first 3000 merges (GPT-2 gives the result of merge r the id
  // 256 + r, so the cut is consistent) keeps these loads fast. The same cut is written as
  // vocab.json + merges.txt, and as tokenizer.json with both merge spellings.
  const MERGES = 3000;
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gptneo-tok-'));
    const fullVocab = JSON.parse(readFileSync(fixture('tokenizer', 'vocab.json'), 'utf8')) as Record<string, number>;
    const vocab = Object.fromEntries(Object.entries(fullVocab).filter(([, id]) => id < 256 + MERGES));
    const merges = readFileSync(fixture('tokenizer', 'merges.txt'), 'utf8').split('\n').slice(1, 1 + MERGES);
    const eot = 256 + MERGES;
    const base = {
      version: '1.0',
      added_tokens: [{ id: eot, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      decoder: { type: 'ByteLevel' },
    };
    mkdirSync(join(dir, 'slow'));
    writeFileSync(join(dir, 'slow', 'vocab.json'), JSON.stringify({ ...vocab, '<|endoftext|>': eot }));
    writeFileSync(join(dir, 'slow', 'merges.txt'), `#version: 0.2\n${merges.join('\n')}\n`);
    writeFileSync(join(dir, 'strings.json'), JSON.stringify({ ...base, model: { type: 'BPE', vocab, merges } }));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({
      ...base, model: { type: 'BPE', vocab, merges: merges.map((m) => m.split(' ')) },
    }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads "a b" merges (fromFile) and ["a","b"] merges (fromDir) like vocab.json + merges.txt', async () => {
    const slow = Tokenizer.fromFileSync(join(dir, 'slow', 'vocab.json'));
    const fromStrings = await Tokenizer.fromFile(join(dir, 'strings.json'));
    const fromPairs = Tokenizer.fromDirSync(dir);
    assert.ok(Tokenizer.hasTokenizerFiles(dir));
    assert.equal(slow.vocabSize, 256 + MERGES + 1);
    for (const t of [fromStrings, fromPairs]) {
      assert.equal(t.vocabSize, slow.vocabSize);
      assert.equal(t.eosTokenId, 256 + MERGES);
      for (const c of cases.cases) assert.deepEqual(t.encode(c.text), slow.encode(c.text), `case ${c.index}`);
    }
    assert.deepEqual(fromPairs.encode('x<|endoftext|>y'), [87, 256 + MERGES, 88]);
    assert.deepEqual(slow.encode('x<|endoftext|>y'), [87, 256 + MERGES, 88]);
    for (const c of cases.cases) assert.equal(fromPairs.decode(fromPairs.encode(c.text)), c.text);
  });
});
