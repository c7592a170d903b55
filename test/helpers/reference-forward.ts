// An independent float64 GPT-Neo forward pass in plain TypeScript, straight from the maths in
// ../shared/fixtures/README.md. Small models only (tests). Weights can be rounded to bf16/f16
// first to build the "naive same-precision" baseline that bounds our half-width error, or the
// Linear weights and lm_head quantized to int8 per output channel (the int8 baseline).
import { readSafetensorsHeader, readTensor } from '../../lib/model/safetensors.js';
import { parseConfig } from '../../lib/model/config.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

type Round = (x: number) => number;
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
export const roundBf16: Round = (x) => {
  f32[0] = x;
  const bits = u32[0]!;
  u32[0] = ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) << 16;
  return f32[0]!;
};
export const roundF16: Round = (x) => {
  // Round to nearest even at 10 mantissa bits, within f16's normal range (weights are small).
  if (x === 0) return 0;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const q = Math.pow(2, Math.max(e, -14) - 10);
  const r = x / q;
  const fl = Math.floor(r);
  const diff = r - fl;
  const n = diff > 0.5 ? fl + 1 : diff < 0.5 ? fl : (fl % 2 === 0 ? fl : fl + 1);
  return n * q;
};

/**
 * Symmetric per-row int8 quantization of a [n, k] float32 matrix, returned dequantized (q * scale,
 * exact in float64), following csrc/cpu/gemm_layout.h: scale = fround(max|row| / 127) (1 for a
 * zero row), q = round-half-away-from-zero(fround(w / scale)) clamped to [-127, 127].
 */
export function quantizeRowsInt8(w: Float64Array, n: number, k: number): Float64Array {
  const out = new Float64Array(w.length);
  for (let r = 0; r < n; r++) {
    let amax = 0;
    for (let c = 0; c < k; c++) amax = Math.max(amax, Math.abs(w[r * k + c]!));
    const scale = amax === 0 ? 1 : Math.fround(amax / 127);
    for (let c = 0; c < k; c++) {
      const x = Math.fround(w[r * k + c]! / scale);
      const q = Math.min(127, Math.floor(Math.abs(x) + 0.5));
      out[r * k + c] = (x < 0 ? -q : q) * scale;
    }
  }
  return out;
}

export interface ReferenceOptions {
  /** 'int8': every projection and the lm_head quantized with quantizeRowsInt8 (embedding lookups stay). */
  quantize?: 'int8';
  /** Rounds the input of every projection (and the lm_head), e.g. to bf16 as AMX tiles take it. */
  roundActivations?: Round;
}

export interface ReferenceModel {
  forward(ids: number[]): { logits: Float64Array[]; hidden: Float64Array[] };
}

/**
 * round: applied to every matrix (embeddings, projections) as stored. roundInputs: also applied to
 * the activations entering each projection and the lm_head, as a GPU tensor-core GEMM that stages
 * its inputs in that precision does.
 */
export async function loadReferenceModel(dir: string, round?: Round, roundInputs = false,
  options: ReferenceOptions = {}): Promise<ReferenceModel> {
  const cfg = parseConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const file = await readSafetensorsHeader(join(dir, 'model.safetensors'));
  const get = async (name: string): Promise<Float64Array> => {
    const t = await readTensor(file, `transformer.${name}`);
    const src = t.data as Float32Array;
    const out = new Float64Array(src.length);
    // Half-width storage applies to matrices (embeddings and projections); layer-norm
    // parameters and biases stay float32, as in the native backends.
    const r = round && t.shape.length === 2 ? round : undefined;
    for (let i = 0; i < src.length; i++) out[i] = r ? r(src[i]!) : src[i]!;
    return out;
  };
  const H = cfg.hiddenSize, I = cfg.intermediateSize, V = cfg.vocabSize, nh = cfg.numHeads, hd = H / nh;
  const wte = await get('wte.weight');
  const wpe = await get('wpe.weight');
  const int8 = options.quantize === 'int8';
  // A Linear weight [n, k], quantized per output channel for the int8 baseline.
  const proj = async (name: string, n: number, k: number): Promise<Float64Array> =>
    int8 ? quantizeRowsInt8(await get(name), n, k) : get(name);
  const lmHead = int8 ? quantizeRowsInt8(wte, V, H) : wte;
  interface Layer {
    ln1g: Float64Array; ln1b: Float64Array; q: Float64Array; k: Float64Array; v: Float64Array; o: Float64Array;
    ob: Float64Array; ln2g: Float64Array; ln2b: Float64Array; fc: Float64Array; fcb: Float64Array;
    pr: Float64Array; prb: Float64Array; local: boolean;
  }
  const layers: Layer[] = [];
  for (let l = 0; l < cfg.numLayers; l++) {
    const p = `h.${l}.`;
    layers.push({
      ln1g: await get(p + 'ln_1.weight'), ln1b: await get(p + 'ln_1.bias'),
      q: await proj(p + 'attn.attention.q_proj.weight', H, H), k: await proj(p + 'attn.attention.k_proj.weight', H, H),
      v: await proj(p + 'attn.attention.v_proj.weight', H, H),
      o: await proj(p + 'attn.attention.out_proj.weight', H, H), ob: await get(p + 'attn.attention.out_proj.bias'),
      ln2g: await get(p + 'ln_2.weight'), ln2b: await get(p + 'ln_2.bias'),
      fc: await proj(p + 'mlp.c_fc.weight', I, H), fcb: await get(p + 'mlp.c_fc.bias'),
      pr: await proj(p + 'mlp.c_proj.weight', H, I), prb: await get(p + 'mlp.c_proj.bias'),
      local: cfg.attentionLayers[l] === 'local',
    });
  }
  const lnfg = await get('ln_f.weight');
  const lnfb = await get('ln_f.bias');
  const eps = cfg.layerNormEpsilon;

  const ln = (x: Float64Array, g: Float64Array, b: Float64Array): Float64Array => {
    let mean = 0;
    for (const v of x) mean += v;
    mean /= x.length;
    let varr = 0;
    for (const v of x) varr += (v - mean) ** 2;
    varr /= x.length;
    const inv = 1 / Math.sqrt(varr + eps);
    return x.map((v, i) => (v - mean) * inv * g[i]! + b[i]!);
  };
  // y = W x (+ b), W: [n, k] row-major
  const lin = (W: Float64Array, xIn: Float64Array, n: number, b?: Float64Array): Float64Array => {
    const x = options.roundActivations ? xIn.map(options.roundActivations) : roundInputs && round ? xIn.map(round) : xIn;
    const k = x.length;
    const y = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      let s = b ? b[r]! : 0;
      for (let c = 0; c < k; c++) s += W[r * k + c]! * x[c]!;
      y[r] = s;
    }
    return y;
  };
  const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

  return {
    forward(ids: number[]) {
      const T = ids.length;
      let h = ids.map((id, t) => {
        const v = new Float64Array(H);
        for (let c = 0; c < H; c++) v[c] = wte[id * H + c]! + wpe[t * H + c]!;
        return v;
      });
      for (const L of layers) {
        const x = h.map((r) => ln(r, L.ln1g, L.ln1b));
        const q = x.map((r) => lin(L.q, r, H));
        const k = x.map((r) => lin(L.k, r, H));
        const v = x.map((r) => lin(L.v, r, H));
        const attn = h.map(() => new Float64Array(H));
        for (let i = 0; i < T; i++) {
          const lo = L.local ? Math.max(0, i - cfg.windowSize + 1) : 0;
          for (let head = 0; head < nh; head++) {
            const o = head * hd;
            const scores: number[] = [];
            for (let j = lo; j <= i; j++) {
              let s = 0;
              for (let d = 0; d < hd; d++) s += q[i]![o + d]! * k[j]![o + d]!;
              scores.push(s);  // GPT-Neo: no 1/sqrt(head_dim)
            }
            const m = Math.max(...scores);
            const e = scores.map((s) => Math.exp(s - m));
            const z = e.reduce((a, b) => a + b, 0);
            for (let j = lo; j <= i; j++) {
              const p = e[j - lo]! / z;
              for (let d = 0; d < hd; d++) attn[i]![o + d]! += p * v[j]![o + d]!;
            }
          }
        }
        h = h.map((r, i) => {
          const a = lin(L.o, attn[i]!, H, L.ob);
          return r.map((val, c) => val + a[c]!);
        });
        h = h.map((r) => {
          const m = lin(L.fc, ln(r, L.ln2g, L.ln2b), I, L.fcb).map(gelu);
          const out = lin(L.pr, m, H, L.prb);
          return r.map((val, c) => val + out[c]!);
        });
      }
      const hidden = h.map((r) => ln(r, lnfg, lnfb));
      const logits = hidden.map((r) => lin(lmHead, r, V));
      return { logits, hidden };
    },
  };
}
