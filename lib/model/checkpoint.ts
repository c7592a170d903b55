/**
 * Checkpoint reading and validation: config.json, safetensors headers and the GPT-Neo tensor table.
 * The model loader imports from here.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { GptNeoError } from '../errors.js';
import { readConfig, type GptNeoConfig } from './config.js';
import { readSafetensorsHeader, type SafetensorsFile } from './safetensors.js';
import { resolveGptNeoWeights, type GptNeoWeightTable } from './weights.js';

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
export {
  writeRandomCheckpoint, float32ToBfloat16Bits, float32ToFloat16Bits, RANDOM_CHECKPOINT_PRESETS,
  type RandomCheckpointDtype, type RandomCheckpointOptions, type RandomCheckpointPreset,
} from './random-checkpoint.js';

/** A model directory read and checked: its config, the safetensors header and the tensor table. */
export interface GptNeoCheckpoint {
  dir: string;
  config: GptNeoConfig;
  file: SafetensorsFile;
  weights: GptNeoWeightTable;
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

/**
 * Reads `<dir>/config.json` and the header of `<dir>/model.safetensors`, and matches the tensors to
 * the config. Reads no tensor data.
 * @throws GptNeoError ERR_GPTNEO_FILE_NOT_FOUND (with a hint when only pytorch_model.bin is there),
 *   ERR_GPTNEO_BAD_CONFIG, ERR_GPTNEO_UNSUPPORTED_MODEL, ERR_GPTNEO_BAD_CHECKPOINT
 */
export async function readGptNeoCheckpoint(dir: string): Promise<GptNeoCheckpoint> {
  const config = await readConfig(dir);
  const path = join(dir, 'model.safetensors');
  if (!(await exists(path))) {
    const hasBin = await exists(join(dir, 'pytorch_model.bin'));
    throw new GptNeoError('ERR_GPTNEO_FILE_NOT_FOUND', `No model.safetensors in ${dir}`, {
      hint: hasBin
        ? 'only safetensors weights are supported; convert pytorch_model.bin with transformers: ' +
          'GPTNeoForCausalLM.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)'
        : 'a model directory needs config.json and model.safetensors',
    });
  }
  const file = await readSafetensorsHeader(path);
  return { dir, config, file, weights: resolveGptNeoWeights(file, config) };
}
