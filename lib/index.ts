/**
 * gpt-neo-node: EleutherAI GPT-Neo models in Node.js, natively on CPU and NVIDIA GPUs.
 */
export { loadModel } from './model/load.js';
export { GptNeoModel, type EmbedOptions, type ForwardOptions, type GenerateOptions, type ModelInfo } from './model/model.js';
export type { NativeGraphStats as CudaGraphStats } from './native/types.js';
export type { LoadModelOptions, DeviceOption, DTypeOption, WeightDType } from './model/options.js';
export type { GptNeoConfig } from './model/config.js';
export type { GenerationChunk, GenerationResult, Usage, FinishReason } from './engine/types.js';
export type { SamplingOptions } from './sampling/index.js';
export { Tokenizer } from './tokenizer/index.js';
export { createServer, type GptNeoServer, type ServerOptions } from './server/index.js';
export { downloadModel, hubCacheDir, type HubOptions, type HubProgress } from './hub/index.js';
export { devices, cudaUnavailableReason, type CpuDevice, type CudaDevice } from './devices.js';
export { GptNeoError, isGptNeoError, type GptNeoErrorCode } from './errors.js';
