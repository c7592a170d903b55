// Stop strings over streamed text (StopStringMatcher) and per-token finish conditions (StopConditions).
import assert from 'node:assert/strict';
import { Rng, StopConditions, StopStringMatcher, validateSamplingOptions, type SamplingOptions } from '../lib/sampling/index.js';

/** Feeds the pieces in order; returns everything emitted (with flush when no stop matched). */
function run(stops: string[], pieces: string[]): { text: string; stopped: boolean; matched: string | undefined; steps: string[] } {
  const matcher = new StopStringMatcher(stops);
  const steps: string[] = [];
  let stopped = false;
  for (const piece of pieces) {
    const step = matcher.push(piece);
    steps.push(step.emit);
    stopped = step.stopped;
  }
  const rest = matcher.flush();
  if (stopped) assert.equal(rest, '', 'flush after a stop returns nothing');
  return { text: steps.join('') + rest, stopped, matched: matcher.matchedStop, steps };
}

/** The definition, by brute force: the occurrence that ends first (ties: the longest) cuts the text. */
function expectedCut(stops: string[], text: string): { text: string; matched: string | undefined } {
  const longestFirst = [...stops].sort((a, b) => b.length - a.length);
  for (let end = 1; end <= text.length; end++) {
    const stop = longestFirst.find((s) => text.slice(0, end).endsWith(s));
    if (stop !== undefined) return { text: text.slice(0, end - stop.length), matched: stop };
  }
  return { text, matched: undefined };
}

describe('20.sampling StopStringMatcher', () => {
  it('emits everything at once when there are no stop strings', () => {
    const r = run([], ['Hello', ' world']);
    assert.deepEqual(r.steps, ['Hello', ' world']);
    assert.equal(r.stopped, false);
  });

  it('matches a stop string split across pushes and returns exactly the text before it', () => {
    const r = run(['\n\n'], ['Hello', '\n', '\nWorld']);
    assert.deepEqual(r.steps, ['Hello', '', '']);
    assert.equal(r.text, 'Hello');
    assert.equal(r.stopped, true);
    assert.equal(r.matched, '\n\n');
    const split = run(['STOP'], ['abc S', 'T', 'O', 'P def']);
    assert.deepEqual(split.steps, ['abc ', '', '', '']);
  });

  it('holds back a possible start of a stop string and releases it when it turns out not to be one', () => {
    const matcher = new StopStringMatcher(['abc']);
    assert.deepEqual(matcher.push('xab'), { emit: 'x', stopped: false });
    assert.deepEqual(matcher.push('d'), { emit: 'abd', stopped: false });
    assert.deepEqual(matcher.push('a'), { emit: '', stopped: false });
    assert.equal(matcher.flush(), 'a');
  });

  it('returns the held-back text from flush when no stop matched', () => {
    const r = run(['abc'], ['hello a', 'b']);
    assert.deepEqual(r.steps, ['hello ', '']);
    assert.equal(r.text, 'hello ab');
    assert.equal(r.stopped, false);
    assert.equal(r.matched, undefined);
  });

  it('stops at the first of several stop strings', () => {
    const r = run(['END', 'STOP'], ['abc ST', 'OP def END']);
    assert.equal(r.text, 'abc ');
    assert.equal(r.matched, 'STOP');
    assert.equal(run(['END', 'STOP'], ['x END STOP']).matched, 'END');
  });

  it('with overlapping stop strings ("ab" and "abc") stops at the one that completes first', () => {
    assert.deepEqual(run(['abc', 'ab'], ['xxabc']).text, 'xx');
    assert.equal(run(['abc', 'ab'], ['xxabc']).matched, 'ab');
    assert.equal(run(['abc', 'ab'], ['xxa', 'bc']).matched, 'ab');
    // "b" completes (at 2) before "abc" (at 3), however the text is split.
    for (const pieces of [['abc'], ['a', 'bc'], ['ab', 'c'], ['a', 'b', 'c']]) {
      const r = run(['abc', 'b'], pieces);
      assert.equal(r.text, 'a', `pieces ${JSON.stringify(pieces)}`);
      assert.equal(r.matched, 'b');
    }
  });

  it('stops at the very start', () => {
    assert.deepEqual(run(['STOP'], ['STOP and more']).steps, ['']);
    assert.deepEqual(run(['<|endoftext|>'], ['<|end', 'oftext|>tail']).steps, ['', '']);
  });

  it('emits nothing after a stop', () => {
    const matcher = new StopStringMatcher(['x']);
    assert.deepEqual(matcher.push('axb'), { emit: 'a', stopped: true });
    assert.deepEqual(matcher.push('more'), { emit: '', stopped: true });
    assert.equal(matcher.flush(), '');
    assert.equal(matcher.stopped, true);
  });

  it('matches a stop string whose surrogate pair is split across pushes', () => {
    const r = run(['🙂'], ['hi \ud83d', '\ude42 there']);
    assert.deepEqual(r.steps, ['hi ', '']);
    assert.equal(r.matched, '🙂');
  });

  it('rejects an empty stop string', () => {
    assert.throws(() => new StopStringMatcher(['a', '']), RangeError);
  });

  it('never emits text of or past a stop string, for any split (seeded random texts)', () => {
    const rng = Rng.fromSeed(77);
    const alphabet = 'ab c';
    const stopSets = [['ab'], ['abc', 'ab'], ['cab', 'bb', 'a c'], ['b'], ['aaa', 'aab'], ['c c c']];
    for (let trial = 0; trial < 400; trial++) {
      const stops = stopSets[trial % stopSets.length];
      const length = 1 + Math.floor(rng.next() * 24);
      const text = Array.from({ length }, () => alphabet[Math.floor(rng.next() * alphabet.length)]).join('');
      const pieces: string[] = [];
      for (let at = 0; at < text.length;) {
        const size = Math.floor(rng.next() * 5); // empty pieces too
        pieces.push(text.slice(at, at + size));
        at += size;
      }
      const expected = expectedCut(stops, text);
      const matcher = new StopStringMatcher(stops);
      let emitted = '';
      let stopped = false;
      for (const piece of pieces) {
        const step = matcher.push(piece);
        emitted += step.emit;
        stopped = step.stopped;
        assert.ok(expected.text.startsWith(emitted), `emitted ${JSON.stringify(emitted)} beyond ${JSON.stringify(expected.text)}`);
      }
      emitted += matcher.flush();
      const where = `stops ${JSON.stringify(stops)}, pieces ${JSON.stringify(pieces)}`;
      assert.equal(emitted, expected.text, where);
      assert.equal(stopped, expected.matched !== undefined, where);
      assert.equal(matcher.matchedStop, expected.matched, where);
    }
  });
});

describe('20.sampling StopConditions', () => {
  const conditions = (options: SamplingOptions, model: { eosTokenId?: number; tokenLimit?: number } = { eosTokenId: 50256 }) =>
    new StopConditions(validateSamplingOptions(options, { vocabSize: 50257 }), model);

  it("finishes with 'stop' on EOS, unless ignoreEos", () => {
    assert.equal(conditions({}).afterToken(50256, 1), 'stop');
    assert.equal(conditions({}).afterToken(50255, 1), undefined);
    assert.equal(conditions({ ignoreEos: true }).afterToken(50256, 1), undefined);
    assert.equal(conditions({}, {}).afterToken(50256, 1), undefined); // a model without an EOS id
  });

  it("finishes with 'stop' on a stop token id, even with ignoreEos", () => {
    const c = conditions({ stopTokenIds: [198, 13], ignoreEos: true });
    assert.equal(c.afterToken(13, 1), 'stop');
    assert.equal(c.afterToken(198, 1), 'stop');
    assert.equal(c.afterToken(14, 1), undefined);
  });

  it("finishes with 'length' at maxNewTokens or the engine's token limit, and 'stop' wins on the same token", () => {
    const c = conditions({ maxNewTokens: 3 });
    assert.equal(c.afterToken(5, 2), undefined);
    assert.equal(c.afterToken(5, 3), 'length');
    assert.equal(c.afterToken(50256, 3), 'stop');
    assert.equal(conditions({ maxNewTokens: 10 }, { tokenLimit: 4 }).afterToken(5, 4), 'length');
    assert.equal(conditions({ maxNewTokens: 2 }, { tokenLimit: 4 }).afterToken(5, 2), 'length');
    assert.equal(conditions({}, { tokenLimit: 4 }).afterToken(5, 3), undefined);
    assert.equal(conditions({}).afterToken(5, 1_000_000), undefined); // no limit given
  });

  it("finishes with 'abort' once the signal fires", () => {
    const controller = new AbortController();
    const c = conditions({ signal: controller.signal });
    assert.equal(c.beforeStep(), undefined);
    assert.equal(c.afterToken(5, 1), undefined);
    controller.abort();
    assert.equal(c.beforeStep(), 'abort');
    assert.equal(c.afterToken(5, 1), 'abort');
    assert.equal(c.afterToken(50256, 1), 'stop'); // the token that ended the sequence still counts as a stop
  });
});
