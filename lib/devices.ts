/**
 * devices(): what this process can run on.
 */
import { loadNative } from './native/binding.js';
import type { NativeCudaDevice } from './native/types.js';

export interface CpuDevice {
  type: 'cpu';
  /** The SIMD path in use ('portable' | 'avx2' | 'avx512' | 'avx512bf16' | 'amx'), after GPTNEO_SIMD. */
  simd: string;
  /** The best path this CPU supports. */
  simdDetected: string;
  threads: number;
}

/** A CUDA device as the addon reports it (name, memory in bytes, capability '9.0', and why it is unusable). */
export type CudaDevice = { type: 'cuda' } & NativeCudaDevice;

/** The CPU first, then every CUDA device found (usable or not, with the reason). */
export function devices(): Array<CpuDevice | CudaDevice> {
  const d = loadNative().devices();
  return [
    { type: 'cpu', simd: d.cpu.simd, simdDetected: d.cpu.simdDetected, threads: d.cpu.threads },
    ...d.cuda.devices.map((c) => ({ type: 'cuda' as const, ...c })),
  ];
}

/** Why CUDA is not available in this process (undefined when a usable GPU is present). */
export function cudaUnavailableReason(): string | undefined {
  const d = loadNative().devices();
  if (d.cuda.devices.some((c) => c.usable)) return undefined;
  return d.cuda.reason ?? d.cuda.devices.map((c) => `${c.name}: ${c.reason}`).join('; ') ?? 'no CUDA device';
}
