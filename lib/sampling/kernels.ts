/**
 * The O(vocabulary) passes of `sampleToken`: the working copy of a row, argmax, the top-k candidate set, weighing
 * candidates by exp((logit − max) / temperature), the min-p / top-p floors that drop candidates before the
 * exact filters, and the top-p nucleus selection (csrc/cpu/mass_select: a port of mass-select.ts that leaves
 * the candidates in the same order, which decides where a draw lands). The native addon has them (csrc/cpu/sampling.h,
 * vectorised: about 10x faster over a 50k vocabulary, where Math.exp alone costs ~1 ms a row); the
 * TypeScript versions here are their reference and the fallback when the addon cannot load.
 * Native weights agree with Math.exp within 1 ulp and the native total is a sum in another order,
 * so a draw can differ only when it lands within rounding of a boundary between two tokens.
 * (The engine's in-step native sampler, csrc/cpu/row_sampler.cpp, calls the same native kernels.)
 */
import { loadNative } from '../native/binding.js';
import { keepNucleus as referenceKeepNucleus } from './filters.js';
import { fillTopKHeap, argmax as referenceArgmax } from './select.js';

export interface SamplingKernels {
  /** 'native' or 'typescript'. */
  readonly name: string;
  /** dst = src with NaN as −Infinity (dst.length >= src.length). */
  copyRow(src: Float32Array, dst: Float32Array): void;
  /** Index of the largest value (NaN ignored; ties → lowest); the first -Infinity if none is larger; -1 if none. */
  argmax(row: Float32Array): number;
  /**
   * Writes to ids, in index order, every index whose value is >= the k-th largest (NaN as −Infinity,
   * ties with the k-th kept); returns the count. 1 <= k <= row.length; heap is scratch of k entries.
   */
  topKCandidates(row: Float32Array, k: number, ids: Int32Array, heap: Int32Array): number;
  /**
   * For candidates ids[0..count): weights[id] = exp((row[id] − max) / temperature) with max their largest
   * value; drops those weighing 0 (order kept) and returns how many remain, with their total in
   * total[0]. With +Infinity among them, those weigh 1 and the rest are dropped. −1 when every
   * candidate is −Infinity or NaN.
   */
  weighCandidates(row: Float32Array, ids: Int32Array, count: number, temperature: number, weights: Float64Array,
    total: Float64Array): number;
  /**
   * Keeps, in order, the candidates with (row[id] − max) / temperature >= floor (max: their largest
   * value); all of them when that max is not finite or a candidate is NaN. Returns the count kept.
   */
  keepAboveLogitFloor(row: Float32Array, ids: Int32Array, count: number, temperature: number, floor: number): number;
  /** Keeps, in order, the candidates with weights[id] >= floor; returns the count kept. */
  keepAboveWeightFloor(weights: Float64Array, ids: Int32Array, count: number, floor: number): number;
  /** Top-p (filters.ts keepNucleus): the kept candidates first, in increasing id order; returns their count. */
  keepNucleus(ids: Int32Array, count: number, weights: Float64Array, keys: Float64Array, total: number, topP: number): number;
}

export const typescriptKernels: SamplingKernels = {
  name: 'typescript',
  copyRow(src, dst) {
    for (let i = 0; i < src.length; i++) {
      const v = src[i];
      dst[i] = v !== v ? -Infinity : v;
    }
  },
  argmax: referenceArgmax,
  topKCandidates(row, k, ids, heap) {
    fillTopKHeap(row, k, heap);
    const kth = row[heap[0]];
    const threshold = kth !== kth ? -Infinity : kth; // a NaN k-th means fewer than k usable logits: keep them all
    let count = 0;
    for (let i = 0; i < row.length; i++) if (row[i] >= threshold) ids[count++] = i;
    return count;
  },
  weighCandidates(row, ids, count, temperature, weights, total) {
    let max = -Infinity;
    for (let i = 0; i < count; i++) {
      const v = row[ids[i]];
      if (v > max) max = v;
    }
    if (max === -Infinity) return -1;
    let kept = 0;
    let sum = 0;
    if (max === Infinity) {
      for (let i = 0; i < count; i++) {
        const id = ids[i];
        if (row[id] === Infinity) { weights[id] = 1; ids[kept++] = id; sum += 1; }
      }
    } else {
      for (let i = 0; i < count; i++) {
        const id = ids[i];
        const w = Math.exp((row[id] - max) / temperature);
        if (w > 0) {
          weights[id] = w;
          ids[kept++] = id;
          sum += w;
        }
      }
    }
    total[0] = sum;
    return kept;
  },
  keepAboveLogitFloor(row, ids, count, temperature, floor) {
    let max = -Infinity;
    for (let i = 0; i < count; i++) max = Math.max(max, row[ids[i]]);
    if (!Number.isFinite(max)) return count;
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const id = ids[i];
      if ((row[id] - max) / temperature >= floor) ids[kept++] = id;
    }
    return kept;
  },
  keepAboveWeightFloor(weights, ids, count, floor) {
    let kept = 0;
    for (let i = 0; i < count; i++) {
      const id = ids[i];
      if (weights[id] >= floor) ids[kept++] = id;
    }
    return kept;
  },
  keepNucleus: referenceKeepNucleus,
};

interface NativeSamplingAddon {
  samplingArgmax?(row: Float32Array): number;
  samplingCopyRow?(src: Float32Array, dst: Float32Array): void;
  samplingTopK?(row: Float32Array, k: number, ids: Int32Array): number;
  samplingWeigh?(row: Float32Array, ids: Int32Array, count: number, temperature: number, weights: Float64Array,
    total: Float64Array): number;
  samplingLogitFloor?(row: Float32Array, ids: Int32Array, count: number, temperature: number, floor: number): number;
  samplingWeightFloor?(weights: Float64Array, ids: Int32Array, count: number, floor: number): number;
  samplingNucleus?(ids: Int32Array, count: number, weights: Float64Array, keys: Float64Array, total: number,
    topP: number): number;
}

/** The addon's kernels, or undefined where it cannot load (or predates them). */
export function nativeKernels(): SamplingKernels | undefined {
  let addon: NativeSamplingAddon;
  try {
    addon = loadNative() as unknown as NativeSamplingAddon;
  } catch {
    return undefined;
  }
  const { samplingArgmax, samplingCopyRow, samplingTopK, samplingWeigh, samplingLogitFloor, samplingWeightFloor,
    samplingNucleus } = addon;
  if (!samplingArgmax || !samplingCopyRow || !samplingTopK || !samplingWeigh || !samplingLogitFloor || !samplingWeightFloor ||
    !samplingNucleus) {
    return undefined;
  }
  return {
    name: 'native',
    copyRow: (src, dst) => samplingCopyRow(src, dst),
    argmax: (row) => samplingArgmax(row),
    topKCandidates: (row, k, ids) => samplingTopK(row, k, ids),
    weighCandidates: (row, ids, count, temperature, weights, total) =>
      samplingWeigh(row, ids, count, temperature, weights, total),
    keepAboveLogitFloor: (row, ids, count, temperature, floor) => samplingLogitFloor(row, ids, count, temperature, floor),
    keepAboveWeightFloor: (weights, ids, count, floor) => samplingWeightFloor(weights, ids, count, floor),
    keepNucleus: (ids, count, weights, keys, total, topP) => samplingNucleus(ids, count, weights, keys, total, topP),
  };
}

let active: SamplingKernels | undefined;

/** The kernels sampling uses: native when the addon loads, else the TypeScript ones. */
export function samplingKernels(): SamplingKernels {
  active ??= nativeKernels() ?? typescriptKernels;
  return active;
}

/** Replaces the kernels (tests compare the two); returns the previous ones. */
export function setSamplingKernels(kernels: SamplingKernels): SamplingKernels {
  const previous = samplingKernels();
  active = kernels;
  return previous;
}
