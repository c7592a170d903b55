/** Loads the model named by the shared CLI options. */
import { loadModel } from '../model/load.js';
import type { GptNeoModel } from '../model/model.js';
import type { DeviceOption, DTypeOption } from '../model/options.js';
import { progressPrinter, toInt } from './common.js';

export interface ModelCliValues {
  model: string;
  device: string;
  dtype: string;
  threads?: string;
  revision?: string;
  offline: boolean;
  'cache-dir'?: string;
}

export function loadModelFromCli(v: ModelCliValues): Promise<GptNeoModel> {
  return loadModel(v.model, {
    device: v.device as DeviceOption,
    dtype: v.dtype as DTypeOption,
    threads: toInt('threads', v.threads),
    revision: v.revision,
    offline: v.offline || undefined,
    cacheDir: v['cache-dir'],
    onProgress: progressPrinter(),
  });
}
