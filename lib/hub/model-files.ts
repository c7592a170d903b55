/** Which repository files make a loadable GPT-Neo model, and the errors when the weights are in the wrong form. */
import { GptNeoError } from '../errors.js';

export const CONFIG_FILE = 'config.json';
export const WEIGHTS_FILE = 'model.safetensors';
const SHARDED_WEIGHTS_INDEX = 'model.safetensors.index.json';
const PYTORCH_WEIGHTS = ['pytorch_model.bin', 'pytorch_model.bin.index.json'];

/** Files a model cannot load without. */
export const REQUIRED_FILES: readonly string[] = [CONFIG_FILE, WEIGHTS_FILE];
/** Tokenizer files, fetched when the repo has them. */
export const OPTIONAL_FILES: readonly string[] = [
  'vocab.json', 'merges.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
];
/** Download order: small files first, so that a problem shows before the large download. */
export const WANTED_FILES: readonly string[] = [CONFIG_FILE, ...OPTIONAL_FILES, WEIGHTS_FILE];

/** Files worth probing when model.safetensors is missing, to explain why. */
export const WEIGHT_ALTERNATIVES: readonly string[] = [SHARDED_WEIGHTS_INDEX, ...PYTORCH_WEIGHTS];

/** The error for a repo without model.safetensors, given which alternative files it has. */
export function missingWeightsError(repoId: string, revision: string, has: (file: string) => boolean): GptNeoError {
  const where = `${repoId} (revision ${revision})`;
  if (has(SHARDED_WEIGHTS_INDEX)) {
    return new GptNeoError('ERR_GPTNEO_UNSUPPORTED_MODEL',
      `${where} stores its weights as sharded safetensors (${SHARDED_WEIGHTS_INDEX}), which is not supported yet`, {
        hint: 'merge the shards into one model.safetensors (transformers: save_pretrained(dir, safe_serialization=True, '
          + 'max_shard_size="100GB")) and load that directory',
      });
  }
  const pytorch = PYTORCH_WEIGHTS.filter(has);
  if (pytorch.length > 0) {
    return new GptNeoError('ERR_GPTNEO_UNSUPPORTED_MODEL',
      `${where} has only ${pytorch.join(' and ')} (PyTorch pickle weights); gpt-neo-node needs model.safetensors`, {
        hint: 'convert it once with transformers: AutoModelForCausalLM.from_pretrained(repo).save_pretrained(dir, '
          + 'safe_serialization=True), then load that directory; or look on the Hub for a safetensors conversion '
          + 'pull request and pass its revision (e.g. revision: "refs/pr/1")',
      });
  }
  return new GptNeoError('ERR_GPTNEO_UNSUPPORTED_MODEL', `${where} has no model.safetensors weights`, {
    hint: 'gpt-neo-node loads GPTNeoForCausalLM checkpoints saved as model.safetensors',
  });
}

export function missingConfigError(repoId: string, revision: string): GptNeoError {
  return new GptNeoError('ERR_GPTNEO_UNSUPPORTED_MODEL',
    `${repoId} (revision ${revision}) has no config.json, so it is not a transformers model`, {
      hint: 'use a GPTNeoForCausalLM repository such as EleutherAI/gpt-neo-125m',
    });
}
