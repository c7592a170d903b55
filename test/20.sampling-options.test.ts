// validateSamplingOptions: defaults, normalization, and one error per bad option naming that option.
import assert from 'node:assert/strict';
import { isGptNeoError } from '../lib/errors.js';
import { MAX_SEED, SAMPLING_OPTION_KEYS, validateSamplingOptions } from '../lib/sampling/index.js';

const vocabSize = 50257;
const validate = (options: unknown) => validateSamplingOptions(options, { vocabSize });

function assertRejected(options: unknown, message: string | RegExp): void {
  assert.throws(() => validate(options), (e: unknown) => {
    assert.ok(isGptNeoError(e, 'ERR_GPTNEO_INVALID_ARGUMENT'), `expected ERR_GPTNEO_INVALID_ARGUMENT, got ${String(e)}`);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
    return true;
  });
}

describe('20.sampling options', () => {
  it('fills every default when no options are given', () => {
    const o = validate(undefined);
    assert.equal(o.temperature, 1);
    assert.equal(o.topK, 0);
    assert.equal(o.topP, 1);
    assert.equal(o.minP, 0);
    assert.equal(o.typicalP, 1);
    assert.equal(o.repetitionPenalty, 1);
    assert.equal(o.presencePenalty, 0);
    assert.equal(o.frequencyPenalty, 0);
    assert.equal(o.logitBias.size, 0);
    assert.equal(o.maxNewTokens, undefined);
    assert.deepEqual(o.stop, []);
    assert.deepEqual(o.stopTokenIds, []);
    assert.equal(o.ignoreEos, false);
    assert.equal(o.signal, undefined);
    assert.ok(Number.isSafeInteger(o.seed) && o.seed >= 0 && o.seed <= MAX_SEED);
  });

  it('draws a fresh random seed when none is given, and keeps a given one', () => {
    assert.notEqual(validate({}).seed, validate({}).seed);
    assert.equal(validate({ seed: 0 }).seed, 0);
    assert.equal(validate({ seed: MAX_SEED }).seed, MAX_SEED);
  });

  it('treats undefined values as absent', () => {
    const o = validate({ temperature: undefined, topP: undefined, stop: undefined });
    assert.equal(o.temperature, 1);
    assert.equal(o.topP, 1);
    assert.deepEqual(o.stop, []);
  });

  it('keeps valid values and normalizes stop, stopTokenIds and logitBias', () => {
    const signal = new AbortController().signal;
    const o = validate({
      temperature: 0, topK: 40, topP: 0.9, minP: 0.05, typicalP: 0.95, repetitionPenalty: 1.3,
      presencePenalty: -2, frequencyPenalty: 2, logitBias: { 50256: -100, '13': 100, 0: 0.5 },
      seed: 1234, maxNewTokens: 64, stop: '\n\n', stopTokenIds: [50256, 0], ignoreEos: true, signal,
    });
    assert.equal(o.temperature, 0);
    assert.equal(o.topK, 40);
    assert.equal(o.topP, 0.9);
    assert.equal(o.minP, 0.05);
    assert.equal(o.typicalP, 0.95);
    assert.equal(o.repetitionPenalty, 1.3);
    assert.equal(o.presencePenalty, -2);
    assert.equal(o.frequencyPenalty, 2);
    assert.deepEqual([...o.logitBias].sort((a, b) => a[0] - b[0]), [[0, 0.5], [13, 100], [50256, -100]]);
    assert.equal(o.seed, 1234);
    assert.equal(o.maxNewTokens, 64);
    assert.deepEqual(o.stop, ['\n\n']);
    assert.deepEqual(o.stopTokenIds, [50256, 0]);
    assert.equal(o.ignoreEos, true);
    assert.equal(o.signal, signal);
    assert.deepEqual(validate({ stop: ['a', 'bc'] }).stop, ['a', 'bc']);
  });

  it('accepts the edges of each range', () => {
    validate({ topP: 0, minP: 1, typicalP: 1, presencePenalty: 2, frequencyPenalty: -2, topK: 0 });
    validate({ topP: 1, minP: 0, logitBias: { 50256: 100 }, stop: Array(16).fill('x'), stopTokenIds: [] });
  });

  it('lists exactly the options it accepts', () => {
    assert.deepEqual([...SAMPLING_OPTION_KEYS].sort(), [
      'frequencyPenalty', 'ignoreEos', 'logitBias', 'maxNewTokens', 'minP', 'presencePenalty', 'repetitionPenalty',
      'seed', 'signal', 'stop', 'stopTokenIds', 'temperature', 'topK', 'topP', 'typicalP',
    ]);
  });

  const rejected: [string, unknown, string | RegExp][] = [
    ['options not an object', 5, 'Expected object for options but received 5'],
    ['options null', null, 'Expected object for options but received null'],
    ['options an array', [], 'Expected object for options but received an array of length 0'],
    ['unknown key', { topk: 5 }, /^Unknown option options\.topk; known options are temperature, topK,/],
    ['negative temperature', { temperature: -0.1 }, 'Expected finite number >= 0 for temperature but received -0.1'],
    ['infinite temperature', { temperature: Infinity }, 'Expected finite number >= 0 for temperature but received Infinity'],
    ['NaN temperature', { temperature: NaN }, 'Expected finite number >= 0 for temperature but received NaN'],
    ['string temperature', { temperature: '1' }, 'Expected finite number >= 0 for temperature but received "1"'],
    ['fractional topK', { topK: 1.5 }, 'Expected non-negative integer for topK but received 1.5'],
    ['negative topK', { topK: -1 }, 'Expected non-negative integer for topK but received -1'],
    ['topP above 1', { topP: 2 }, 'Expected number in [0, 1] for topP but received 2'],
    ['topP negative', { topP: -0.5 }, 'Expected number in [0, 1] for topP but received -0.5'],
    ['topP NaN', { topP: NaN }, 'Expected number in [0, 1] for topP but received NaN'],
    ['minP above 1', { minP: 1.01 }, 'Expected number in [0, 1] for minP but received 1.01'],
    ['typicalP zero', { typicalP: 0 }, 'Expected number in (0, 1] for typicalP but received 0'],
    ['typicalP above 1', { typicalP: 1.5 }, 'Expected number in (0, 1] for typicalP but received 1.5'],
    ['repetitionPenalty zero', { repetitionPenalty: 0 }, 'Expected finite number > 0 for repetitionPenalty but received 0'],
    ['repetitionPenalty negative', { repetitionPenalty: -1 }, 'Expected finite number > 0 for repetitionPenalty but received -1'],
    ['presencePenalty too large', { presencePenalty: 2.5 }, 'Expected number in [-2, 2] for presencePenalty but received 2.5'],
    ['frequencyPenalty too small', { frequencyPenalty: -3 }, 'Expected number in [-2, 2] for frequencyPenalty but received -3'],
    ['logitBias not an object', { logitBias: 3 }, 'Expected object for logitBias but received 3'],
    ['logitBias an array', { logitBias: [1] }, 'Expected object for logitBias but received an array of length 1'],
    ['logitBias a Map', { logitBias: new Map([[1, 1]]) }, 'Expected object mapping token ids to numbers for logitBias but received an object'],
    ['logitBias non-numeric key', { logitBias: { abc: 1 } }, 'Expected token id in [0, 50256] for logitBias key but received "abc"'],
    ['logitBias negative key', { logitBias: { '-1': 1 } }, 'Expected token id in [0, 50256] for logitBias key but received "-1"'],
    ['logitBias key with leading zero', { logitBias: { '07': 1 } }, 'Expected token id in [0, 50256] for logitBias key but received "07"'],
    ['logitBias key out of vocabulary', { logitBias: { 50257: 1 } }, 'Expected token id in [0, 50256] for logitBias key but received "50257"'],
    ['logitBias value too large', { logitBias: { 5: 101 } }, 'Expected number in [-100, 100] for logitBias[5] but received 101'],
    ['logitBias value not a number', { logitBias: { 5: '1' } }, 'Expected number in [-100, 100] for logitBias[5] but received "1"'],
    ['negative seed', { seed: -1 }, 'Expected non-negative integer for seed but received -1'],
    ['fractional seed', { seed: 0.5 }, 'Expected non-negative integer for seed but received 0.5'],
    ['seed beyond 2^53', { seed: 2 ** 60 }, /^Expected non-negative integer for seed but received 1152921504606847000$/],
    ['maxNewTokens zero', { maxNewTokens: 0 }, 'Expected positive integer for maxNewTokens but received 0'],
    ['maxNewTokens negative', { maxNewTokens: -1 }, 'Expected positive integer for maxNewTokens but received -1'],
    ['stop a number', { stop: 5 }, 'Expected string or array of strings for stop but received 5'],
    ['stop empty string', { stop: '' }, 'Expected non-empty string for stop but received ""'],
    ['stop array with empty string', { stop: ['a', ''] }, 'Expected non-empty string for stop[1] but received ""'],
    ['stop array with non-string', { stop: ['a', 3] }, 'Expected non-empty string for stop[1] but received 3'],
    ['too many stops', { stop: Array(17).fill('x') }, 'Expected at most 16 stop strings for stop but received an array of length 17'],
    ['stop a sparse array', { stop: [, 'a'] }, 'Expected non-empty string for stop[0] but received undefined'],
    ['stopTokenIds a sparse array', { stopTokenIds: [1, , 2] }, 'Expected integer in [0, 50256] for stopTokenIds[1] but received undefined'],
    ['stopTokenIds not an array', { stopTokenIds: 5 }, 'Expected array of token ids for stopTokenIds but received 5'],
    ['stopTokenIds out of vocabulary', { stopTokenIds: [1, 50257] }, 'Expected integer in [0, 50256] for stopTokenIds[1] but received 50257'],
    ['stopTokenIds fractional', { stopTokenIds: [1.5] }, 'Expected integer in [0, 50256] for stopTokenIds[0] but received 1.5'],
    ['ignoreEos not boolean', { ignoreEos: 'yes' }, 'Expected boolean for ignoreEos but received "yes"'],
    ['signal not an AbortSignal', { signal: {} }, 'Expected AbortSignal for signal but received an object'],
  ];
  for (const [what, options, message] of rejected) {
    it(`rejects ${what}`, () => assertRejected(options, message));
  }

  it('rejects a bad vocabSize in the context', () => {
    assert.throws(() => validateSamplingOptions({}, { vocabSize: 0 }),
      (e: unknown) => isGptNeoError(e, 'ERR_GPTNEO_INVALID_ARGUMENT') && /vocabSize/.test(e.message));
  });

  it('checks token ids against the given vocabulary size', () => {
    assert.throws(() => validateSamplingOptions({ stopTokenIds: [10] }, { vocabSize: 10 }),
      /Expected integer in \[0, 9\] for stopTokenIds\[0\] but received 10/);
    assert.equal(validateSamplingOptions({ stopTokenIds: [9] }, { vocabSize: 10 }).stopTokenIds[0], 9);
  });
});
