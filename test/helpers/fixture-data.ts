// Reading the Hugging Face reference data of a fixture case (reference.json + reference.safetensors).
import { readFileSync } from 'node:fs';
import { readSafetensorsHeader, readTensor, type SafetensorsFile } from '../../lib/model/safetensors.js';
import { fixture } from './paths.js';

export interface FixtureSequence {
  index: number;
  length: number;
  input_ids: number[];
  logit_positions: number[];
  greedy_ids: number[];
  greedy_new_ids: number[];
  greedy_min_margin: number;
  prompt_text?: string;
  greedy_new_text?: string;
}

export interface FixtureCase {
  name: 'tiny-neo' | 'tiny-neo-gpt2vocab';
  dir: string;
  json: { sequences: FixtureSequence[]; config_json: Record<string, unknown> };
  ref: SafetensorsFile;
  tensor(name: string): Promise<Float32Array | Int32Array>;
}

export async function loadFixtureCase(name: FixtureCase['name']): Promise<FixtureCase> {
  const dir = fixture(name);
  const json = JSON.parse(readFileSync(fixture(name, 'reference.json'), 'utf8'));
  const ref = await readSafetensorsHeader(fixture(name, 'reference.safetensors'), { acceptDtype: () => true });
  return {
    name, dir, json, ref,
    async tensor(t: string) {
      return (await readTensor(ref, t)).data as Float32Array | Int32Array;
    },
  };
}

/** Largest |a[i] - b[i]|; NaN anywhere makes it NaN (which fails any `<=` check). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? NaN : d;
    if (Number.isNaN(m)) return NaN;
  }
  return m;
}
