/** Public option and event types of the Hugging Face Hub client. */

/** One progress event of a file download. `loaded` never decreases for a given file. */
export interface HubProgress {
  /** File name inside the repository, e.g. `model.safetensors`. */
  file: string;
  /** Bytes of the file present on disk so far (a resumed download starts above 0). */
  loaded: number;
  /** Expected size in bytes, when the Hub told it. */
  total: number | undefined;
  /** True on the last event of this file (sent once, after the file is verified and in the cache). */
  done: boolean;
}

/**
 * Options of the Hub client. Every field is optional; environment variables fill the gaps:
 * HF_ENDPOINT, HF_TOKEN (or HUGGING_FACE_HUB_TOKEN, or the token file that `huggingface-cli login`
 * writes), HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE.
 * Keys this interface does not define are ignored, so a caller may pass a larger options object.
 */
export interface HubOptions {
  /** Hub cache directory (the one holding `models--owner--name`). Default: HF_HUB_CACHE or $HF_HOME/hub. */
  cacheDir?: string;
  /** Branch, tag or 40-hex commit sha. Default 'main'. */
  revision?: string;
  /** Never touch the network; resolve from the cache only. Default: HF_HUB_OFFLINE=1. */
  offline?: boolean;
  /** Access token for private or gated repositories. Default: HF_TOKEN. */
  token?: string;
  /** Hub base URL. Default: HF_ENDPOINT or https://huggingface.co. */
  endpoint?: string;
  /** Called during downloads (throttled to about ten events per second per file). */
  onProgress?: (p: HubProgress) => void;
  /** Cancels the resolution; a partial download is kept and resumed next time. */
  signal?: AbortSignal;
  /** Replacement for the global fetch (tests, proxies). */
  fetchImpl?: typeof fetch;
  /**
   * Milliseconds to wait for a response's headers, and the longest pause allowed between two
   * chunks of a body. Default 10000. A Hub that does not answer in time counts as unreachable.
   */
  timeoutMs?: number;
  /** Environment variables to read (default process.env). */
  env?: Record<string, string | undefined>;
}
