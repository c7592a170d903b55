/**
 * Checkpoint reading and validation: config.json, safetensors headers and the GPT-Neo tensor table.
 * The model loader imports from here.
 */
export { parseConfig, readConfig, type AttentionKind, type GptNeoConfig } from './config.js';
export {
  readSafetensorsHeader, readTensor, writeSafetensors, FLOAT_DTYPES, MAX_HEADER_BYTES, SAFETENSORS_DTYPE_SIZES,
  type FloatDtype, type ReadSafetensorsOptions, type SafetensorsDtype, type SafetensorsFile,
  type SafetensorsTensorInfo, type TensorData, type TensorSource, type TensorToWrite,
} from './safetensors.js';
export {
  expectedGptNeoTensors, isLegacyAttentionBuffer, resolveGptNeoWeights,
  type ExpectedTensor, type GptNeoWeight, type GptNeoWeightTable,
} from './weights.js';
