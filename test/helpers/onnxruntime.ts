// onnxruntime-node for the peer tests: loaded when installed, otherwise the suite is skipped with
// the printed reason (it is a devDependency, so a normal checkout has it).
import { loadOnnxRuntime, type OnnxRuntime } from '../../lib/bench/peers/ort-gpt-neo.js';

export async function onnxRuntimeOrSkip(ctx: Mocha.Context): Promise<OnnxRuntime> {
  const loaded = await loadOnnxRuntime();
  if ('missing' in loaded) {
    console.log(`      skipped: ${loaded.missing}`);
    ctx.skip();
  }
  return (loaded as { ort: OnnxRuntime }).ort;
}
