/**
 * Runs `fn` with environment variables set (a value of undefined unsets one) and restores each
 * variable's previous value afterwards, whatever `fn` does. The native layer reads some variables
 * when a model loads (GPTNEO_CUDA_*) and some at every step (GPTNEO_SAMPLING_PREFILTER).
 */
export async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const assign = (values: Record<string, string | undefined>) => {
    for (const [k, v] of Object.entries(values)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  assign(vars);
  try {
    return await fn();
  } finally {
    assign(saved);
  }
}
