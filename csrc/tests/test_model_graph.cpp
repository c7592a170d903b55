// Native test of recorded decode steps (model/graph_step.cpp). One random GPT-Neo checkpoint
// (global and local layers, a separate local KV pool) runs the same scripted steps — prefills of
// several sequences, then decode steps whose batch size and contexts change (crossing the 128,
// 256 and 512 context buckets and the model's 600-position limit), a long prefill in the middle
// that grows the scratch buffers (dropping every recording), argmax and logits outputs — on:
//   cpu             the CPU backend, float32 (the reference)
//   cuda            the CUDA backend, float32, recordings off
//   cuda+graphs     the CUDA backend, float32, recordings on
//   cuda bf16 (+graphs)  bfloat16 weights and KV cache, recordings off and on (compared with each other)
//   cuda+graphs+fused-ln float32, recordings on, layer norms folded into the decode GEMV and the
//                   decode steps' kv_write into their attention kernel (GPTNEO_CUDA_FUSED_LN=1
//                   GPTNEO_CUDA_FUSED_KV=1, opt-in)
//   cuda bf16+graphs+gemv-stream  bfloat16 weights (the streaming GEMV serves bf16/f16 only),
//                   recordings on, decode rows (m <= 8) on the streaming GEMV, layer-normed or not
//                   (GPTNEO_CUDA_GEMV_STREAM=1 GPTNEO_CUDA_FUSED_LN=1 GPTNEO_CUDA_FUSED_KV=1). Its sums
//                   run in another order than cuda bf16's, and a bf16 KV cache turns last-bit
//                   differences into whole bf16 steps (a value near a rounding boundary rounds the other
//                   way) that later steps carry on: on an H200 it drifted 1.0-1.4e-3 from cuda bf16 by
//                   step 100-260. So it is judged as the issue judges bf16 (within 2x of cuda bf16's
//                   error against the fp32 reference), and the same pair runs again with an fp32 KV cache:
//   cuda bf16w f32kv+graphs (+gemv-stream)  bfloat16 weights, float32 KV cache, plain and streaming:
//                   within 1e-3 of each other. The cache no longer rounds the order's differences; the
//                   tensor-core GEMMs of steps with more than 8 rows still round x to bf16, where a
//                   relative difference d flips roundings in proportion to d and so moves the result by
//                   about sqrt(d * 2^-8): H200, mean 2.1e-5, at most 7.8e-4 (a 12-row step at context 504)
//   cuda bf16+graphs+fused-layer  as cuda bf16+graphs+gemv-stream, with each one-row decode step's layers
//                   as single persistent launches (GPTNEO_CUDA_FUSED_LAYER=1): the same kernels' code on
//                   the same plans, so its logits must equal that model's bit for bit on every step
//   cuda+graphs+pdl float32, recordings on, the decode-path kernels launched as programmatic
//                   dependents on sm_90+ (GPTNEO_CUDA_PDL=1)
//   cuda bf16+graphs defaults  bfloat16, recordings on, none of the variables set: the shipped
//                   choice (streaming GEMV up to 4 rows, programmatic launch, wgmma on Hopper), judged
//                   like the streaming model. Every other CUDA model sets GPTNEO_CUDA_GEMV_STREAM and
//                   GPTNEO_CUDA_PDL explicitly (0 unless it is that model's switch).
// Every step's logits must match the reference, every argmax must equal the reference's where its
// top-2 margin is clear, and the recordings must actually serve the decode steps. Phase F runs
// run-ahead (StepInput::steps > 1; argmax, and tokens from a TokenChooser) on the fp32 models against
// their single steps. Phase G samples from logits left on the backend (output kBackendLogits:
// candidates, whole rows, the backend sampler, sampled run-ahead) against the host's sampling.
// Built twice: test_model_graph (real kernels; prints SKIP without a GPU) and
// test_model_graph_mock (CUDA backend over csrc/tests/cuda_api_mock.cpp: the recording glue on
// any machine, not the kernels). Last line: "N passed, N failed".
#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "cpu/simd.h"
#include "model/cpu_backend.h"
#include "cuda/api.h"
#include "model/cuda_backend.h"
#include "tests/report.h"
#include "model/gpt_neo.h"
#include "model/device_sampling.h"
#include "cpu/batch_sampler.h"
#include "cpu/ref/ref.h"
#include "cpu/sampling.h"
#include "cpu/sampling_run.h"
#include "core/thread_pool.h"

using namespace gptneo;
using gptneo::testing::fmt;
using gptneo::testing::g_failed;
using gptneo::testing::g_passed;
using gptneo::testing::report;

namespace {

ModelConfig test_config() {
  ModelConfig c;
  c.vocab_size = 320;
  c.max_positions = 600;  // not a power of two: the last context bucket is capped here
  c.hidden = 64;
  c.layers = 4;
  c.heads = 4;
  c.intermediate = 256;
  c.window = 24;
  c.layer_is_local = {false, true, false, true};
  return c;
}

constexpr int kBlockSize = 16;
constexpr int kKvBlocks = 400;

// Writes a random float32 checkpoint (canonical tensor names) to `path`.
std::vector<TensorEntry> write_checkpoint(const ModelConfig& c, const std::string& path) {
  std::mt19937 rng(1234);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::vector<TensorEntry> entries;
  std::vector<float> data;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0.f) {
    TensorEntry t;
    t.name = name;
    t.shape = shape;
    size_t count = 1;
    for (int64_t d : shape) count *= static_cast<size_t>(d);
    t.offset = data.size() * sizeof(float);
    t.nbytes = count * sizeof(float);
    for (size_t i = 0; i < count; ++i) data.push_back(offset + scale * normal(rng));
    entries.push_back(t);
  };
  const int64_t V = c.vocab_size, P = c.max_positions, H = c.hidden, I = c.intermediate;
  add("wte.weight", {V, H}, 0.5f);
  add("wpe.weight", {P, H}, 0.1f);
  for (int l = 0; l < c.layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    add(p + "ln_1.weight", {H}, 0.1f, 1.f);
    add(p + "ln_1.bias", {H}, 0.1f);
    add(p + "attn.attention.q_proj.weight", {H, H}, 0.1f);
    add(p + "attn.attention.k_proj.weight", {H, H}, 0.1f);
    add(p + "attn.attention.v_proj.weight", {H, H}, 0.15f);
    add(p + "attn.attention.out_proj.weight", {H, H}, 0.15f);
    add(p + "attn.attention.out_proj.bias", {H}, 0.05f);
    add(p + "ln_2.weight", {H}, 0.1f, 1.f);
    add(p + "ln_2.bias", {H}, 0.1f);
    add(p + "mlp.c_fc.weight", {I, H}, 0.15f);
    add(p + "mlp.c_fc.bias", {I}, 0.05f);
    add(p + "mlp.c_proj.weight", {H, I}, 0.08f);
    add(p + "mlp.c_proj.bias", {H}, 0.05f);
  }
  add("ln_f.weight", {H}, 0.1f, 1.f);
  add("ln_f.bias", {H}, 0.1f);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(data.data(), sizeof(float), data.size(), f) != data.size()) {
    std::printf("FAIL cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::fclose(f);
  return entries;
}

// A sequence as the test's scheduler sees it: its tokens, how many are in the KV pools, its blocks
// (the same ids in the main and the local pool, which are equally large here).
struct Sequence {
  std::vector<int32_t> tokens;
  int computed = 0;
  std::vector<int32_t> blocks;
  // margins[i]: the reference's top-2 margin when tokens[i] was chosen (NAN for prompt tokens).
  std::vector<float> margins;
};

struct WorkItem {
  int seq;
  int count;  // tokens of this step
};

struct Script {
  std::vector<Sequence> seqs;
  int next_block = 0;

  // The step computing `items`; output rows are each item's last row. `steps` > 1: a run-ahead
  // (StepInput::steps), whose tables cover steps - 1 positions more.
  StepInput build(const std::vector<WorkItem>& items, OutputKind output, int window, int steps = 1) {
    StepInput in;
    in.output = output;
    in.steps = steps;
    int max_blocks = 1;
    for (const WorkItem& it : items) {
      Sequence& s = seqs[it.seq];
      const int need = (s.computed + it.count + steps - 1 + kBlockSize - 1) / kBlockSize;
      while (static_cast<int>(s.blocks.size()) < need) s.blocks.push_back(next_block++);
      max_blocks = std::max(max_blocks, need);
    }
    in.max_blocks = max_blocks;
    in.seq_starts.push_back(0);
    for (const WorkItem& it : items) {
      const Sequence& s = seqs[it.seq];
      for (int i = 0; i < it.count; ++i) {
        in.token_ids.push_back(s.tokens[s.computed + i]);
        in.positions.push_back(s.computed + i);
      }
      in.seq_starts.push_back(static_cast<int32_t>(in.token_ids.size()));
      in.output_rows.push_back(static_cast<int32_t>(in.token_ids.size()) - 1);
      // Local tables: blocks wholly before the first new token's window are -1 (never read).
      const int first_needed = std::max(0, s.computed - window + 1) / kBlockSize;
      for (int b = 0; b < max_blocks; ++b) {
        const bool present = b < static_cast<int>(s.blocks.size());
        in.block_tables.push_back(present ? s.blocks[b] : 0);
        in.local_block_tables.push_back(present && b >= first_needed ? s.blocks[b] : -1);
      }
    }
    return in;
  }

  void advance(const std::vector<WorkItem>& items) {
    for (const WorkItem& it : items) seqs[it.seq].computed += it.count;
  }
};

struct Run {
  std::string name;
  std::unique_ptr<GptNeoModel> model;
};

// dtype: weights; bf16 models keep a bf16 KV cache, as they do on the GPU by default, unless
// f32_kv asks for a float32 one.
bool make_run(const std::string& name, std::unique_ptr<Backend> backend, const std::string& path,
              const std::vector<TensorEntry>& tensors, DType dtype, bool graphs, Run* out, bool f32_kv = false) {
  out->name = name;
  out->model = std::make_unique<GptNeoModel>(test_config(), std::move(backend));
  LoadOptions lo;
  lo.weight_dtype = dtype;
  lo.kv_dtype = dtype == DType::kBF16 && !f32_kv ? DType::kBF16 : DType::kF32;
  lo.kv_blocks = kKvBlocks;
  lo.local_kv_blocks = kKvBlocks;
  lo.block_size = kBlockSize;
  lo.graphs = graphs;
  const Status st = out->model->load(path, tensors, lo);
  report(st.ok(), name + ": load", st.message());
  return st.ok();
}

int argmax(const float* row, int n) { return static_cast<int>(std::max_element(row, row + n) - row); }

// Largest minus second largest.
float margin(const float* row, int n) {
  float a = -INFINITY, b = -INFINITY;
  for (int i = 0; i < n; ++i) {
    if (row[i] > a) { b = a; a = row[i]; }
    else if (row[i] > b) b = row[i];
  }
  return a - b;
}

double rel_error(const float* a, const float* b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// Checks one run's output of a step against the reference logits [R, V].
void check_step(const Run& run, const StepInput& in, const StepOutput& out, const std::vector<float>& ref,
                double tol, const std::string& step_name) {
  const int R = static_cast<int>(in.output_rows.size());
  const int V = test_config().vocab_size;
  const std::string what = run.name + ": " + step_name;
  if (in.output == OutputKind::kArgmax) {
    int mismatches = 0, checked = 0;
    bool shape_ok = static_cast<int>(out.ids.size()) == R;
    for (int r = 0; shape_ok && r < R; ++r) {
      const float* row = ref.data() + static_cast<size_t>(r) * V;
      if (margin(row, V) < 1e-2f) continue;  // too close to call across summation orders
      ++checked;
      if (out.ids[r] != argmax(row, V)) ++mismatches;
    }
    report(shape_ok && mismatches == 0, what + " argmax", fmt("%d of %d rows differ", mismatches, checked));
    return;
  }
  const bool shape_ok = out.rows == R && out.cols == V && out.count == static_cast<size_t>(R) * V;
  const double err = shape_ok ? rel_error(out.values.get(), ref.data(), ref.size()) : INFINITY;
  report(err <= tol, what + " logits", fmt("rel_err=%.3g (tol %.2g)", err, tol));
}

}  // namespace

int main() {
  std::string why;
  if (cuda_device_count(&why) == 0) {
    std::printf("SKIP: %s\n0 passed, 0 failed\n", why.c_str());
    return 0;
  }
  const ModelConfig cfg = test_config();
  char dir_template[] = "/tmp/gptneo-graph-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::printf("FAIL cannot create a temporary folder\n");
    return 1;
  }
  const std::string path = std::string(dir_template) + "/model.bin";
  const std::vector<TensorEntry> tensors = write_checkpoint(cfg, path);

  auto cuda = [&](std::unique_ptr<Backend>* be) {
    const Status st = create_cuda_backend(0, be);
    report(st.ok(), "create the CUDA backend", st.message());
    return st.ok();
  };
  std::unique_ptr<Backend> b1, b2, b3, b4, b5, b6, b7, b8, b9, b10, b11;
  Run ref, plain, graphs, bf16_plain, bf16_graphs, fused, stream, pdl, f32kv_plain, f32kv_stream, defaults, fused_layer;
  // (the variables are read when a backend is created)
  setenv("GPTNEO_CUDA_GEMV_STREAM", "0", 1);
  setenv("GPTNEO_CUDA_PDL", "0", 1);
  if (!cuda(&b1) || !cuda(&b2) || !cuda(&b3) || !cuda(&b4) || !cuda(&b8)) return 1;
  setenv("GPTNEO_CUDA_FUSED_LN", "1", 1);
  setenv("GPTNEO_CUDA_FUSED_KV", "1", 1);
  const bool b5_ok = cuda(&b5);
  setenv("GPTNEO_CUDA_GEMV_STREAM", "1", 1);
  setenv("GPTNEO_CUDA_L2_PREFETCH", "1", 1);  // (the streaming models also prefetch their weights)
  const bool b6_ok = cuda(&b6) && cuda(&b9);
  // (GN_TEST_DECODE_LAYER=0: scripts/gpu-check.sh keeps the persistent layer out until its own test stage
  // passed; that model is then the streaming model again, and says so)
  const char* layer_gate = std::getenv("GN_TEST_DECODE_LAYER");
  const bool layer_on = layer_gate == nullptr || std::strcmp(layer_gate, "0") != 0;
  if (!layer_on) std::printf("note: GN_TEST_DECODE_LAYER=0: the fused-layer model runs without GPTNEO_CUDA_FUSED_LAYER\n");
  if (layer_on) setenv("GPTNEO_CUDA_FUSED_LAYER", "1", 1);
  const bool b11_ok = cuda(&b11);
  unsetenv("GPTNEO_CUDA_FUSED_LAYER");
  unsetenv("GPTNEO_CUDA_L2_PREFETCH");
  unsetenv("GPTNEO_CUDA_FUSED_LN");
  unsetenv("GPTNEO_CUDA_FUSED_KV");
  setenv("GPTNEO_CUDA_GEMV_STREAM", "0", 1);
  setenv("GPTNEO_CUDA_PDL", "1", 1);
  const bool b7_ok = cuda(&b7);
  unsetenv("GPTNEO_CUDA_GEMV_STREAM");
  unsetenv("GPTNEO_CUDA_PDL");
  const bool b10_ok = cuda(&b10);
  if (!b5_ok || !b6_ok || !b7_ok || !b10_ok || !b11_ok) return 1;
  if (!make_run("cpu", create_cpu_backend(2, cpu::select_simd()), path, tensors, DType::kF32, true, &ref) ||
      !make_run("cuda", std::move(b1), path, tensors, DType::kF32, false, &plain) ||
      !make_run("cuda+graphs", std::move(b2), path, tensors, DType::kF32, true, &graphs) ||
      !make_run("cuda bf16", std::move(b3), path, tensors, DType::kBF16, false, &bf16_plain) ||
      !make_run("cuda bf16+graphs", std::move(b4), path, tensors, DType::kBF16, true, &bf16_graphs) ||
      !make_run("cuda+graphs+fused-ln", std::move(b5), path, tensors, DType::kF32, true, &fused) ||
      !make_run("cuda bf16+graphs+gemv-stream", std::move(b6), path, tensors, DType::kBF16, true, &stream) ||
      !make_run("cuda+graphs+pdl", std::move(b7), path, tensors, DType::kF32, true, &pdl) ||
      !make_run("cuda bf16w f32kv+graphs", std::move(b8), path, tensors, DType::kBF16, true, &f32kv_plain, true) ||
      !make_run("cuda bf16w f32kv+graphs+gemv-stream", std::move(b9), path, tensors, DType::kBF16, true, &f32kv_stream,
                true) ||
      !make_run("cuda bf16+graphs defaults", std::move(b10), path, tensors, DType::kBF16, true, &defaults) ||
      !make_run("cuda bf16+graphs+fused-layer", std::move(b11), path, tensors, DType::kBF16, true, &fused_layer))
    return 1;
  {
    // The switches each backend reports (Backend::experimental_switches, info().cudaExperimental).
    CudaDeviceInfo dev;
    const bool hopper = cuda_device_info(0, &dev).ok() && dev.major >= 9;
    using Names = std::vector<std::string>;
    // (wgmma is a process-wide choice, on by default on Hopper: the same for every model; so are the
    // opt-in clustered decode GEMM and wgmma attention)
    const auto with_wgmma = [](Names n) {
      if (const char* wgmma = gn_cuda_gemm_wgmma_switch(gn_cuda_gemm_wgmma_enabled())) n.push_back(wgmma);
      if (gn_cuda_gemm_decode_tc_cluster_enabled()) n.push_back("decodeTcCluster");
      if (gn_cuda_row_stage_enabled()) n.push_back("rowStage");
      if (gn_cuda_decode_keys16() == 8) n.push_back("decodeKeys16");
      if (gn_cuda_decode_split_waves()) n.push_back("decodeSplitWaves");
      if (gn_cuda_attention_wgmma_enabled())
        n.push_back(gn_cuda_attention_wgmma_enabled() == GN_ATTENTION_WGMMA_PIPELINED ? "wgmmaAttentionPipelined"
                                                                                      : "wgmmaAttention");
      return n;
    };
    report(plain.model->backend().experimental_switches() == with_wgmma({}),
           "cuda: no switch with GPTNEO_CUDA_GEMV_STREAM=0 GPTNEO_CUDA_PDL=0");
    report(defaults.model->backend().experimental_switches() ==
               with_wgmma(hopper ? Names{"gemvStream", "programmaticLaunch"} : Names{"gemvStream"}),
           "cuda bf16+graphs defaults: the streaming GEMV, and programmatic launch where the GPU has it");
    report(fused.model->backend().experimental_switches() == with_wgmma({"fusedLayerNorm", "fusedKvWrite"}),
           "cuda+graphs+fused-ln reports both fusions");
    report(stream.model->backend().experimental_switches() ==
               with_wgmma(hopper ? Names{"fusedLayerNorm", "fusedKvWrite", "gemvStream", "l2Prefetch"}
                                 : Names{"fusedLayerNorm", "fusedKvWrite", "gemvStream"}),
           "cuda bf16+graphs+gemv-stream reports its switches (the L2 weight prefetch where the GPU has it)");
    Names layer_names = {"fusedLayerNorm", "fusedKvWrite", "fusedDecodeLayer", "gemvStream"};
    if (!layer_on) layer_names.erase(layer_names.begin() + 2);
    if (hopper) layer_names.push_back("l2Prefetch");
    report(fused_layer.model->backend().experimental_switches() == with_wgmma(layer_names),
           "cuda bf16+graphs+fused-layer reports the persistent decode layer");
    report(pdl.model->backend().experimental_switches() == with_wgmma(hopper ? Names{"programmaticLaunch"} : Names{}),
           "cuda+graphs+pdl reports programmatic launch where the GPU has it");
  }
  report(!ref.model->graph_stats().enabled, "cpu: recordings are off on a backend that cannot record");
  report(!plain.model->graph_stats().enabled, "cuda: recordings off when LoadOptions::graphs is false");
  report(graphs.model->graph_stats().enabled, "cuda+graphs: recordings on");

  Script script;
  std::mt19937 rng(99);
  auto prompt = [&](int n) {
    Sequence s;
    for (int i = 0; i < n; ++i) s.tokens.push_back(static_cast<int32_t>(rng() % cfg.vocab_size));
    script.seqs.push_back(s);
  };
  int decode_steps = 0, step_no = 0;
  bool stop = false;

  // Runs one step everywhere; the reference's argmax becomes each sampled sequence's next token.
  auto run_step = [&](const std::vector<WorkItem>& items, OutputKind output) {
    if (stop) return;
    const StepInput in = script.build(items, output, cfg.window);
    StepInput ref_in = in;
    ref_in.output = OutputKind::kLogits;
    StepOutput ref_out;
    const std::string name = fmt("step %d (%zu seqs, %zu tokens, context %d)", step_no++, items.size(),
                                 in.token_ids.size(), *std::max_element(in.positions.begin(), in.positions.end()) + 1);
    Status st = ref.model->step(ref_in, &ref_out);
    if (!st.ok()) {
      report(false, "cpu: " + name, st.message());
      stop = true;
      return;
    }
    std::vector<float> ref_logits(ref_out.values.get(), ref_out.values.get() + ref_out.count);
    StepOutput plain_out, graph_out, bf16_out, bf16_graph_out, fused_out, stream_out, pdl_out, f32kv_out,
        f32kv_stream_out, defaults_out, fused_layer_out;
    const Status s1 = plain.model->step(in, &plain_out);
    const Status s2 = graphs.model->step(in, &graph_out);
    const Status s5 = fused.model->step(in, &fused_out);
    const Status s6 = stream.model->step(ref_in, &stream_out);
    const Status s7 = pdl.model->step(in, &pdl_out);
    // bf16 always returns logits (its argmax is not compared with fp32's; fp32 covers argmax).
    const Status s3 = bf16_plain.model->step(ref_in, &bf16_out);
    const Status s4 = bf16_graphs.model->step(ref_in, &bf16_graph_out);
    const Status s8 = f32kv_plain.model->step(ref_in, &f32kv_out);
    const Status s9 = f32kv_stream.model->step(ref_in, &f32kv_stream_out);
    const Status s10 = defaults.model->step(ref_in, &defaults_out);
    const Status s11 = fused_layer.model->step(ref_in, &fused_layer_out);
    if (!s1.ok() || !s2.ok() || !s3.ok() || !s4.ok() || !s5.ok() || !s6.ok() || !s7.ok() || !s8.ok() || !s9.ok() ||
        !s10.ok() || !s11.ok()) {
      report(false, name, (s1.ok() ? "" : "cuda: " + s1.message()) + (s2.ok() ? "" : " cuda+graphs: " + s2.message()) +
                              (s3.ok() ? "" : " bf16: " + s3.message()) + (s4.ok() ? "" : " bf16+graphs: " + s4.message()) +
                              (s5.ok() ? "" : " fused-ln: " + s5.message()) +
                              (s6.ok() ? "" : " gemv-stream: " + s6.message()) +
                              (s7.ok() ? "" : " pdl: " + s7.message()) +
                              (s8.ok() ? "" : " bf16w f32kv: " + s8.message()) +
                              (s9.ok() ? "" : " bf16w f32kv gemv-stream: " + s9.message()) +
                              (s10.ok() ? "" : " bf16 defaults: " + s10.message()) +
                              (s11.ok() ? "" : " fused-layer: " + s11.message()));
      stop = true;
      return;
    }
    check_step(plain, in, plain_out, ref_logits, 2e-5, name);
    check_step(graphs, in, graph_out, ref_logits, 2e-5, name);
    check_step(fused, in, fused_out, ref_logits, 2e-5, name);
    check_step(pdl, in, pdl_out, ref_logits, 2e-5, name);
    // bf16 with and without recordings: the same kernels on the same rows (padding changes only
    // which rows share a launch), so they agree far more closely than bf16 agrees with fp32.
    std::vector<float> bf16_ref(bf16_out.values.get(), bf16_out.values.get() + bf16_out.count);
    check_step(bf16_graphs, ref_in, bf16_graph_out, bf16_ref, 1e-3, name);
    // The streaming GEMV and the folded layer norm: the same fp32 arithmetic in another order. With
    // a bf16 KV cache the order's last-bit differences round into the cache (the header), so that
    // model answers to the fp32 reference within twice plain bf16's error; with an fp32 cache it
    // must stay within 1e-3 of the plain model.
    const bool bf16_shape_ok = bf16_out.count == ref_logits.size();
    const double bf16_err = bf16_shape_ok ? rel_error(bf16_out.values.get(), ref_logits.data(), ref_logits.size()) : 0;
    report(bf16_shape_ok, "cuda bf16: " + name + " logits shape");
    check_step(stream, ref_in, stream_out, ref_logits, 2 * bf16_err, name + " vs fp32 (2x cuda bf16's error)");
    // The persistent decode layer runs the streaming model's kernels' code on the same plans: equal logits.
    std::vector<float> stream_logits(stream_out.values.get(), stream_out.values.get() + stream_out.count);
    check_step(fused_layer, ref_in, fused_layer_out, stream_logits, 0.0, name + " vs gemv-stream (bit for bit)");
    check_step(defaults, ref_in, defaults_out, ref_logits, 2 * bf16_err, name + " vs fp32 (2x cuda bf16's error)");
    std::vector<float> f32kv_ref(f32kv_out.values.get(), f32kv_out.values.get() + f32kv_out.count);
    check_step(f32kv_stream, ref_in, f32kv_stream_out, f32kv_ref, 1e-3, name);
    if (static_cast<int>(in.token_ids.size()) == static_cast<int>(items.size())) ++decode_steps;
    script.advance(items);
    for (size_t r = 0; r < items.size(); ++r) {
      Sequence& s = script.seqs[items[r].seq];
      if (s.computed == static_cast<int>(s.tokens.size())) {
        const float* row = ref_logits.data() + r * cfg.vocab_size;
        s.tokens.push_back(argmax(row, cfg.vocab_size));
        s.margins.resize(s.tokens.size() - 1, NAN);
        s.margins.push_back(margin(row, cfg.vocab_size));
      }
    }
  };
  auto decode = [&](const std::vector<int>& which, OutputKind output) {
    std::vector<WorkItem> items;
    for (int s : which)
      if (script.seqs[s].computed < cfg.max_positions) items.push_back({s, 1});
    if (!items.empty()) run_step(items, output);
  };
  auto kind = [](int i) { return i % 2 == 0 ? OutputKind::kArgmax : OutputKind::kLogits; };

  // A: three prompts in one step (5, 40 and 130 tokens).
  prompt(5);
  prompt(40);
  prompt(130);
  run_step({{0, 5}, {1, 40}, {2, 130}}, OutputKind::kLogits);
  // B: 140 decode steps over changing subsets of them (1 to 3 sequences; sequence 2 crosses the
  // 256-token bucket).
  for (int i = 0; i < 140 && !stop; ++i) {
    std::vector<int> which;
    for (int s = 0; s < 3; ++s)
      if (i % (s + 2) != 1) which.push_back(s);
    decode(which, kind(i));
  }
  const GraphStats after_b = graphs.model->graph_stats();
  report(after_b.recorded > 0 && after_b.replays > 0 && after_b.recorded + after_b.replays == (uint64_t)decode_steps,
         "cuda+graphs: every decode step of phase B was recorded or replayed",
         fmt("recorded %llu, replayed %llu, decode steps %d", (unsigned long long)after_b.recorded,
             (unsigned long long)after_b.replays, decode_steps));
  report(after_b.replays > 4 * after_b.recorded, "cuda+graphs: recordings are reused",
         fmt("recorded %llu, replayed %llu", (unsigned long long)after_b.recorded, (unsigned long long)after_b.replays));

  // C: a 470-token prompt and ten short ones in one step: the scratch buffers grow, every recording
  // is dropped (they point at the old buffers) and made again on demand.
  prompt(470);
  for (int i = 0; i < 10; ++i) prompt(3);
  std::vector<WorkItem> prefill = {{3, 470}};
  for (int s = 4; s < 14; ++s) prefill.push_back({s, 3});
  run_step(prefill, OutputKind::kLogits);
  // D: decode over up to 14 sequences (buckets up to 16); sequence 3 crosses 512 and runs to the
  // model's last position (600), then drops out.
  const int decode_before_d = decode_steps;
  for (int i = 0; i < 140 && !stop; ++i) {
    std::vector<int> which;
    for (int s = 0; s < 14; ++s)
      if ((i + s) % 5 != 0 || s == 3) which.push_back(s);
    decode(which, kind(i));
  }
  const GraphStats after_d = graphs.model->graph_stats();
  report(after_d.recorded + after_d.replays == (uint64_t)decode_steps && after_d.recorded > after_b.recorded,
         "cuda+graphs: phase D re-recorded after the scratch grew, and served every decode step",
         fmt("recorded %llu, replayed %llu, decode steps %d (phase D: %d)", (unsigned long long)after_d.recorded,
             (unsigned long long)after_d.replays, decode_steps, decode_steps - decode_before_d));
  report(script.seqs[3].computed == cfg.max_positions, "sequence 3 reached the last position",
         fmt("%d of %d", script.seqs[3].computed, cfg.max_positions));

  // E: a step the model refuses (token id outside the vocabulary) changes nothing; the next
  // decode step is still served from a recording.
  {
    StepInput bad = script.build({{0, 1}}, OutputKind::kArgmax, cfg.window);
    bad.token_ids[0] = cfg.vocab_size;
    StepOutput out;
    const Status st = graphs.model->step(bad, &out);
    report(st.code() == ErrorCode::kInvalidArgument, "cuda+graphs: a bad token id is refused", st.message());
    const uint64_t replays = graphs.model->graph_stats().replays;
    decode({0, 1}, OutputKind::kArgmax);
    decode({0, 1}, OutputKind::kArgmax);
    report(graphs.model->graph_stats().replays > replays, "cuda+graphs: replays go on after a refused step");
  }
  // F: run-ahead (StepInput::steps). Sequences 14-16 and 17-19 get equal 100-token prompts; 14-16
  // then decode 40 single steps (checked against the reference as above), 17-19 run the same 40
  // steps in one call on every fp32 model (crossing the 128 context bucket, several blocks, and the
  // local window's slide). The CPU reference's run-ahead must equal its single steps exactly (same
  // kernels, same batch); the CUDA models' must agree with them wherever the reference's margin is
  // clear. A decode step after the run-ahead then checks that it left the KV pools right.
  if (!stop) {
    constexpr int kAhead = 40;
    for (int i = 0; i < 3; ++i) prompt(100);
    for (int i = 0; i < 3; ++i) {
      const Sequence twin = script.seqs[14 + i];
      script.seqs.push_back(twin);
    }
    run_step({{14, 100}, {15, 100}, {16, 100}}, OutputKind::kLogits);
    run_step({{17, 100}, {18, 100}, {19, 100}}, OutputKind::kLogits);
    for (int i = 0; i < kAhead && !stop; ++i) decode({14, 15, 16}, OutputKind::kArgmax);
    const std::vector<WorkItem> ahead_items = {{17, 1}, {18, 1}, {19, 1}};
    const StepInput in = script.build(ahead_items, OutputKind::kArgmax, cfg.window, kAhead);
    // 3 x 40 ids: step j's token for sequence r at [j * 3 + r]; what single steps chose for 14 + r.
    auto compare = [&](const Run& run, const StepOutput& out, bool exact) {
      bool shape_ok = out.ids.size() == static_cast<size_t>(kAhead) * 3;
      int checked = 0, mismatches = 0, diverged = 0;
      for (int r = 0; shape_ok && r < 3; ++r) {
        const Sequence& single = script.seqs[14 + r];
        for (int j = 0; j < kAhead; ++j) {
          const size_t at = 101 + static_cast<size_t>(j);  // tokens[100] came from the prefill
          const int expect = single.tokens[at];
          const int got = out.ids[static_cast<size_t>(j) * 3 + r];
          ++checked;
          if (got == expect) continue;
          if (!exact && single.margins[at] < 1e-2f) {
            ++diverged;  // too close to call: the rest of this sequence follows another path
            break;
          }
          ++mismatches;
          break;
        }
      }
      report(shape_ok && mismatches == 0, run.name + ": a 40-step run-ahead chose the single steps' tokens",
             fmt("%d mismatches, %d close-margin divergences, %d ids checked", mismatches, diverged, checked));
      return shape_ok && mismatches == 0 && diverged == 0;
    };
    const uint64_t replays_before = graphs.model->graph_stats().replays;
    std::vector<const Run*> runs = {&ref, &plain, &graphs, &pdl, &fused};
    std::vector<bool> same(runs.size(), false);
    for (size_t i = 0; i < runs.size(); ++i) {
      StepOutput out;
      const Status st = runs[i]->model->step(in, &out);
      report(st.ok(), runs[i]->name + ": a 40-step run-ahead runs", st.message());
      same[i] = st.ok() && compare(*runs[i], out, i == 0);
    }
    report(graphs.model->graph_stats().replays >= replays_before + kAhead - 1,
           "cuda+graphs: the run-ahead's steps were replays",
           fmt("%llu replays for %d steps", (unsigned long long)(graphs.model->graph_stats().replays - replays_before),
               kAhead));
    // The next ordinary step of 17-19 reads the keys and values each run-ahead wrote: its logits
    // must match the reference's. (A model whose run-ahead took another path at a close margin wrote
    // other tokens' keys and is left out; none is expected with this seed. The bf16 models never
    // see 17-19.)
    for (int r = 0; r < 3; ++r) {
      Sequence& seq = script.seqs[17 + r];
      const Sequence& single = script.seqs[14 + r];
      seq.tokens.assign(single.tokens.begin(), single.tokens.begin() + 101 + kAhead);
      seq.margins.assign(single.margins.begin(), single.margins.begin() + 101 + kAhead);
      seq.computed += kAhead;
    }
    const StepInput next = script.build(ahead_items, OutputKind::kLogits, cfg.window);
    StepOutput ref_next;
    const Status ref_st = ref.model->step(next, &ref_next);
    report(ref_st.ok(), "cpu: the step after the run-ahead", ref_st.message());
    if (ref_st.ok()) {
      const std::vector<float> ref_logits(ref_next.values.get(), ref_next.values.get() + ref_next.count);
      for (size_t i = 1; i < runs.size(); ++i) {
        if (!same[i]) continue;
        StepOutput out;
        const Status st = runs[i]->model->step(next, &out);
        report(st.ok(), runs[i]->name + ": the step after the run-ahead", st.message());
        if (st.ok()) check_step(*runs[i], next, out, ref_logits, 2e-5, "the step after the run-ahead");
      }
    }

    // The same 40 steps again with tokens chosen from each step's logits by a caller's chooser (the
    // in-step sampler's path; here the argmax, so the tokens must be the same and the keys and values
    // rewritten are the same): single steps replayed from recordings with logits output, or not.
    {
      std::vector<int> saved;
      for (int r = 0; r < 3; ++r) {
        saved.push_back(script.seqs[17 + r].computed);
        script.seqs[17 + r].computed = 100;
      }
      const StepInput chosen_in = script.build(ahead_items, OutputKind::kLogits, cfg.window, kAhead);
      for (int r = 0; r < 3; ++r) script.seqs[17 + r].computed = saved[r];
      for (size_t i = 0; i < runs.size(); ++i) {
        if (!same[i]) continue;
        const uint64_t replays = runs[i]->model->graph_stats().replays;
        int calls = 0;
        const TokenChooser pick = [&](int, const float* logits, int32_t* ids) {
          ++calls;
          for (int r = 0; r < 3; ++r) ids[r] = argmax(logits + static_cast<size_t>(r) * cfg.vocab_size, cfg.vocab_size);
          return Status::Ok();
        };
        StepOutput out;
        const Status st = runs[i]->model->step_chosen(chosen_in, pick, &out);
        report(st.ok() && calls == kAhead, runs[i]->name + ": a 40-step run with a token chooser runs",
               st.message() + fmt(" (%d chooser calls)", calls));
        if (st.ok()) compare(*runs[i], out, i == 0);
        if (runs[i] == &graphs)
          report(graphs.model->graph_stats().replays >= replays + kAhead - 1, "cuda+graphs: the chosen run's steps were replays",
                 fmt("%llu", (unsigned long long)(graphs.model->graph_stats().replays - replays)));
      }
      StepInput argmax_out = chosen_in;
      argmax_out.output = OutputKind::kArgmax;
      StepOutput out;
      const Status st = graphs.model->step_chosen(argmax_out, [](int, const float*, int32_t*) { return Status::Ok(); }, &out);
      report(st.code() == ErrorCode::kInvalidArgument, "cuda+graphs: a chooser run needs logits output", st.message());
    }

    // Refusals: a run-ahead needs argmax output, one token per sequence, tables that reach its last
    // position, and must stay inside the model's positions.
    auto refused = [&](StepInput bad, const std::string& what) {
      StepOutput out;
      const Status st = graphs.model->step(bad, &out);
      report(st.code() == ErrorCode::kInvalidArgument, "cuda+graphs: refuses a run-ahead " + what, st.message());
    };
    StepInput logits = script.build({{17, 1}}, OutputKind::kLogits, cfg.window, 4);
    refused(logits, "with logits output");
    StepInput short_tables = script.build({{17, 1}}, OutputKind::kArgmax, cfg.window, 40);
    short_tables.steps = 100;
    refused(short_tables, "whose block tables end too early");
    StepInput prefill_chunk = script.build({{17, 1}, {18, 1}}, OutputKind::kArgmax, cfg.window, 4);
    prefill_chunk.seq_starts = {0, 2};
    prefill_chunk.positions[1] = prefill_chunk.positions[0] + 1;
    prefill_chunk.output_rows = {1};
    prefill_chunk.block_tables.resize(prefill_chunk.max_blocks);
    prefill_chunk.local_block_tables.resize(prefill_chunk.max_blocks);
    refused(prefill_chunk, "of a sequence with two new tokens");
    StepInput many = script.build({{17, 1}}, OutputKind::kArgmax, cfg.window, 1);
    many.steps = kMaxRunAheadSteps + 1;
    refused(many, "of more than kMaxRunAheadSteps steps");
    StepInput past_end = script.build({{17, 1}}, OutputKind::kArgmax, cfg.window, 2);
    past_end.positions[0] = cfg.max_positions - 1;
    refused(past_end, "past the model's last position");
    StepInput zero = script.build({{17, 1}}, OutputKind::kArgmax, cfg.window, 1);
    zero.steps = 0;
    refused(zero, "of 0 steps");
  }

  // G: sampling from logits left in backend memory (output kBackendLogits; model/device_sampling.h).
  // Three new sequences; on each fp32 model and the bf16 one with recordings, one decode step is
  // run with logits output and again with the logits left on the backend: the rows read back must
  // be the same logits, the backend's candidates must equal the oracle's on them, and the sampler
  // must pick, for a greedy row with a repetition penalty, a top-k row with bias and a presence
  // penalty, and a top-p row (downloaded whole), what cpu::sample_row picks from the whole rows.
  // Then an 8-step sampled run-ahead through the backend sampler must choose what the same run
  // choosing on host logits chooses.
  if (!stop) {
    for (int i = 0; i < 3; ++i) prompt(60);
    run_step({{20, 60}, {21, 60}, {22, 60}}, OutputKind::kLogits);
    const std::vector<WorkItem> items = {{20, 1}, {21, 1}, {22, 1}};
    const int V = cfg.vocab_size;
    cpu::SamplingBatch batch;
    batch.params.resize(3);
    batch.params[0].temperature = 0;
    batch.params[0].repetition_penalty = 1.3;
    batch.params[1].temperature = 0.8;
    batch.params[1].top_k = 5;
    batch.params[1].presence_penalty = 0.5;
    batch.params[2].temperature = 1;
    batch.params[2].top_p = 0.9;
    batch.bias_starts = {0, 0, 1, 1};
    batch.bias_ids = {7};
    batch.bias_values = {2.5};
    batch.seen_starts = {0, 10, 10, 10};
    for (int i = 0; i < 10; ++i) batch.seen_ids.push_back(i * 31 % V);
    batch.count_starts = {0, 0, 1, 1};
    batch.count_ids = {3};
    batch.counts = {2};
    constexpr int kSampled = 8;
    for (int i = 0; i < 3 * kSampled; ++i) batch.u.push_back((i * 0.37 + 0.11) - std::floor(i * 0.37 + 0.11));
    batch.steps = kSampled;
    std::vector<uint8_t> marks;
    report(batch.check(V, &marks).empty(), "phase G: the sampling batch is consistent", batch.check(V, &marks));
    batch.steps = 1;
    std::vector<cpu::RowSamplerScratch> host_scratch;
    for (const Run* run : {&ref, &plain, &graphs, &bf16_graphs}) {
      GptNeoModel& m = *run->model;
      const StepInput host_in = script.build(items, OutputKind::kLogits, cfg.window);
      StepInput backend_in = host_in;
      backend_in.output = OutputKind::kBackendLogits;
      StepOutput host_out, backend_out;
      std::vector<float> rows(3 * static_cast<size_t>(V));
      Status st = m.step(host_in, &host_out);
      // Two steps queued back to back with nothing read between them, so that their inputs' uploads
      // are in flight together (CUDA: both from the backend's staging block, which the mock checks is
      // not rewritten before the stream is synchronised): a two-row step of the same tokens first, whose
      // cache writes the three-row step repeats.
      StepOutput queued_out;
      if (st.ok()) st = m.step(script.build({{20, 1}, {21, 1}}, OutputKind::kBackendLogits, cfg.window), &queued_out);
      if (st.ok()) st = m.step(backend_in, &backend_out);
      if (st.ok()) st = m.download_logit_rows({0, 1, 2}, rows.data());
      report(st.ok() && backend_out.rows == 3 && backend_out.cols == V && backend_out.count == 0,
             run->name + ": a step leaves its logits on the backend", st.message());
      if (!st.ok()) continue;
      // The same step twice on the same model: the same arithmetic, so the same logits.
      report(std::memcmp(rows.data(), host_out.values.get(), rows.size() * sizeof(float)) == 0,
             run->name + ": the rows read back are the step's logits", "");
      // The same rows through the model's own host block (page-locked on CUDA), in another order.
      const float* block = nullptr;
      st = m.read_logit_rows({2, 0}, &block);
      report(st.ok() && std::memcmp(block, rows.data() + 2 * static_cast<size_t>(V), V * sizeof(float)) == 0 &&
                 std::memcmp(block + V, rows.data(), V * sizeof(float)) == 0,
             run->name + ": read_logit_rows gives the same rows", st.message());
      CandidateRequest req;
      req.need = {1, 20, 0};
      req.out_start = {0, 40, 120, 120};
      req.extra_start = {0, 2, 2, 3};
      req.extra_ids = {5, 7, 3};
      CandidateRows got;
      st = m.select_logit_candidates(req, &got);
      bool same = st.ok() && got.rows == 3 && got.extras == 3 && got.slots == 120;
      for (int r = 0; same && r < 3; ++r) {
        const float* row = rows.data() + static_cast<size_t>(r) * V;
        const int slots = req.out_start[r + 1] - req.out_start[r];
        std::vector<int32_t> ids(std::max(slots, 1));
        std::vector<float> vals(std::max(slots, 1));
        const int want = cpu::ref::select_candidates_row(row, V, req.need[r], slots, ids.data(), vals.data());
        same = got.counts()[r] == want && want <= slots;
        for (int i = 0; same && i < want; ++i)
          same = got.ids()[req.out_start[r] + i] == ids[i] &&
                 std::memcmp(&got.vals()[req.out_start[r] + i], &vals[i], sizeof(float)) == 0;
        for (int e = req.extra_start[r]; same && e < req.extra_start[r + 1]; ++e)
          same = std::memcmp(&got.extra_vals()[e], &row[req.extra_ids[e]], sizeof(float)) == 0;
      }
      report(same, run->name + ": select_logit_candidates equals the oracle on the step's rows", st.message());
      // The sampler: rows 0 and 1 from candidates, row 2 (top-p) whole.
      DeviceRowSampler sampler;
      ThreadPool pool(2);
      std::vector<int32_t> picked(3, -9), expect(3, -8);
      st = sampler.sample(m, 3, [&](int r) { return batch.row(r); }, pool, picked.data());
      cpu::sample_rows(rows.data(), V, batch, pool, &host_scratch, expect.data());
      report(st.ok() && picked == expect && sampler.stats().candidate_rows == 2 && sampler.stats().full_rows == 1,
             run->name + ": the backend sampler picks what sample_row picks from the whole rows",
             st.message() + fmt(" got %d %d %d, want %d %d %d", picked[0], picked[1], picked[2], expect[0], expect[1],
                                expect[2]) +
                 fmt(" (%llu from candidates, %llu whole)", (unsigned long long)sampler.stats().candidate_rows,
                     (unsigned long long)sampler.stats().full_rows));
      // A fresh sampler with the device draw on, `calls` times over a batch's three rows, beside
      // sample_rows on the host rows: whether the batch is consistent and every call gave the host's
      // tokens, the sampler's stats, and what to print.
      struct DrawRun {
        bool same = false;
        DeviceSamplingStats stats;
        std::string detail;
      };
      auto run_with_draw = [&](const cpu::SamplingBatch& b, int calls) {
        DrawRun out;
        std::vector<uint8_t> marks;
        const std::string problem = b.check(V, &marks);
        std::vector<int32_t> picked(3, -9), expect(3, -8);
        cpu::sample_rows(rows.data(), V, b, pool, &host_scratch, expect.data());
        DeviceRowSampler sampler;
        sampler.set_draw(true);
        Status s;
        out.same = problem.empty();
        for (int call = 0; out.same && call < calls; ++call) {
          s = sampler.sample(m, 3, [&](int r) { return b.row(r); }, pool, picked.data());
          out.same = s.ok() && picked == expect;
        }
        out.stats = sampler.stats();
        const DeviceSamplingStats& d = out.stats;
        out.detail = problem + s.message() +
                     fmt(" got %d %d %d, want %d %d %d", picked[0], picked[1], picked[2], expect[0], expect[1], expect[2]) +
                     fmt(" (%llu drawn, %llu uncertain, %llu nucleus, %llu nucleus misses, %llu candidates, %llu whole)",
                         (unsigned long long)d.drawn_rows, (unsigned long long)d.uncertain_draws,
                         (unsigned long long)d.nucleus_rows, (unsigned long long)d.nucleus_misses,
                         (unsigned long long)d.candidate_rows, (unsigned long long)d.full_rows);
        return out;
      };
      // The device draw: row 2 as plain temperature sampling with min-p (and the batch's bias and
      // presence penalty moved onto it) is drawn on the backend, the others from candidates.
      {
        cpu::SamplingBatch drawn_batch = batch;
        drawn_batch.u.resize(3);  // one step
        drawn_batch.params[2].top_p = 1;
        drawn_batch.params[2].min_p = 0.02;
        drawn_batch.bias_starts = {0, 0, 0, 1};
        drawn_batch.count_starts = {0, 0, 0, 1};
        drawn_batch.seen_starts = {0, 10, 10, 20};
        drawn_batch.params[2].repetition_penalty = 1.2;
        for (int i = 0; i < 10; ++i) drawn_batch.seen_ids.push_back(i * 37 % V);
        const DrawRun drawn = run_with_draw(drawn_batch, 1);
        report(drawn.same && drawn.stats.drawn_rows == 1 && drawn.stats.candidate_rows == 2 && drawn.stats.full_rows == 0,
               run->name + ": the device draw picks what sample_row picks (temperature, min-p, penalties)", drawn.detail);
        // A uniform on a boundary between two of row 2's tokens (plain temperature: u·S at the cumulative
        // weight after a token, in long double over sample_row's own weights): the draw cannot certify it,
        // so the row comes back whole and still gets sample_row's token.
        cpu::SamplingBatch edge_batch = drawn_batch;
        edge_batch.params[2].min_p = 0;
        edge_batch.params[2].repetition_penalty = 1;
        edge_batch.params[2].presence_penalty = 0;
        edge_batch.bias_starts = {0, 0, 0, 0};
        edge_batch.bias_ids.clear();
        edge_batch.bias_values.clear();
        edge_batch.count_starts = {0, 0, 0, 0};
        edge_batch.count_ids.clear();
        edge_batch.counts.clear();
        const float* row2 = rows.data() + 2 * static_cast<size_t>(V);
        const double top = *std::max_element(row2, row2 + V), temperature = edge_batch.params[2].temperature;
        long double total = 0, at = 0;
        for (int i = 0; i < V; ++i) {
          total += cpu::exp_nonpositive((static_cast<double>(row2[i]) - top) / temperature);
          if (i == V / 3) at = total;
        }
        edge_batch.u[2] = static_cast<double>(at / total);
        const DrawRun edge = run_with_draw(edge_batch, 1);
        report(edge.same && edge.stats.uncertain_draws == 1 && edge.stats.drawn_rows == 0 && edge.stats.full_rows == 1 &&
                   edge.stats.candidate_rows == 2,
               run->name + ": a draw on a token boundary is uncertain; the row is sampled whole, as sample_row samples it",
               edge.detail);
        // Top-p with the draw on: row 2 (made peaked by its temperature, with typical-p after the nucleus,
        // a bias and penalties) is sampled from its candidates with the backend's sum of its weights; with
        // min-p instead of typical-p it is drawn on the backend (the nucleus draw, min-p applied to the
        // nucleus); without either, with top-p on the boundary between two nuclei, the nucleus draw cannot
        // certify it and it is sampled whole.
        {
          double mean = 0, square = 0;
          for (int i = 0; i < V; ++i) mean += row2[i] / V;
          for (int i = 0; i < V; ++i) square += (row2[i] - mean) * (row2[i] - mean) / V;
          const double peaked = std::max(std::sqrt(square) / 3, 1e-3);  // logits / T with a spread of about 3
          cpu::SamplingBatch nucleus_batch = drawn_batch;
          nucleus_batch.params[2].temperature = peaked;
          nucleus_batch.params[2].top_p = 0.9;
          cpu::SamplingBatch min_p_batch = nucleus_batch;  // (min-p 0.02, from drawn_batch)
          nucleus_batch.params[2].min_p = 0;
          nucleus_batch.params[2].typical_p = 0.95;
          cpu::SamplingBatch boundary_batch = edge_batch;
          boundary_batch.params[2].temperature = peaked;
          std::vector<double> w(static_cast<size_t>(V));
          for (int i = 0; i < V; ++i) w[i] = cpu::exp_nonpositive((static_cast<double>(row2[i]) - top) / peaked);
          std::vector<double> ranked = w;
          std::sort(ranked.begin(), ranked.end(), std::greater<double>());
          long double all = 0, leading = 0;
          for (double x : w) all += x;
          for (int r = 0; r < 3; ++r) leading += ranked[r];
          boundary_batch.params[2].top_p = static_cast<double>(leading / all);  // p·S on the top three's mass
          const DrawRun served = run_with_draw(nucleus_batch, 1), boundary = run_with_draw(boundary_batch, 1);
          report(served.same && served.stats.nucleus_rows == 1 && served.stats.full_rows == 0 &&
                     served.stats.candidate_rows == 2 && served.stats.drawn_rows == 0,
                 run->name + ": a top-p row with typical-p from its candidates and the backend's sum gets sample_row's token",
                 served.detail);
          const DrawRun with_min_p = run_with_draw(min_p_batch, 1);
          report(with_min_p.same && with_min_p.stats.drawn_rows == 1 && with_min_p.stats.drawn_nucleus_rows == 1 &&
                     with_min_p.stats.nucleus_rows == 0 && with_min_p.stats.full_rows == 0,
                 run->name + ": a peaked top-p row with min-p, bias and penalties is drawn on the backend (the nucleus draw)",
                 with_min_p.detail);
          report(boundary.same && boundary.stats.nucleus_rows == 0 && boundary.stats.full_rows == 1 &&
                     boundary.stats.candidate_rows == 2 && boundary.stats.drawn_rows == 0 &&
                     boundary.stats.uncertain_draws == 1,
                 run->name + ": top-p on a boundary between nuclei is sampled whole, as sample_row samples it",
                 boundary.detail);
        }
        // A flat top-p row (temperature 50: a nucleus of nearly the whole vocabulary) is drawn on the
        // backend at every call (the nucleus draw), also with min-p keeping the whole nucleus (1e-6) or
        // cutting inside it (0.97: the weights lie between ~0.9 and 1). With typical-p after the nucleus it
        // goes to the candidates instead, whose count cannot grow over this 320-token vocabulary: it misses,
        // and after each miss the sampler backs off for 1, 2, 4 ... steps: 10 calls try at calls 1, 3 and 6.
        {
          cpu::SamplingBatch flat = edge_batch;
          flat.params[2].temperature = 50;
          flat.params[2].top_p = 0.99;
          const DrawRun flat_drawn = run_with_draw(flat, 10);
          report(flat_drawn.same && flat_drawn.stats.drawn_rows == 10 && flat_drawn.stats.drawn_nucleus_rows == 10 &&
                     flat_drawn.stats.full_rows == 0 && flat_drawn.stats.nucleus_misses == 0,
                 run->name + ": a flat top-p row is drawn on the backend at every call (the nucleus draw)",
                 flat_drawn.detail);
          for (double min_p : {1e-6, 0.97}) {
            cpu::SamplingBatch with_min_p = flat;
            with_min_p.params[2].min_p = min_p;
            const DrawRun drawn_min_p = run_with_draw(with_min_p, 10);
            report(drawn_min_p.same && drawn_min_p.stats.drawn_nucleus_rows == 10 && drawn_min_p.stats.full_rows == 0,
                   run->name + fmt(": a flat top-p row with min-p %g is drawn on the backend at every call", min_p),
                   drawn_min_p.detail);
          }
          flat.params[2].typical_p = 0.99;
          const DrawRun backing_off = run_with_draw(flat, 10);
          report(backing_off.same && backing_off.stats.nucleus_rows == 0 && backing_off.stats.nucleus_misses == 3 &&
                     backing_off.stats.full_rows == 10 && backing_off.stats.drawn_rows == 0,
                 run->name + ": flat top-p rows with typical-p miss their candidates; the sampler backs off (tries at calls "
                             "1, 3, 6 of 10)",
                 backing_off.detail);
        }
        // Refusals of a malformed draw request.
        DrawRequest dr;
        dr.params.assign(3 * static_cast<size_t>(kDrawParams), 0.0);
        dr.change_start = {0, 0, 0, 2};
        dr.change_meta = {5, kDrawChangeBias, 3, kDrawChangeBias};  // descending
        dr.change_vals = {1, 0, 1, 0};
        std::vector<int32_t> tokens;
        std::vector<double> sums;
        const bool descending = m.draw_logit_rows(dr, &tokens, &sums).code() == ErrorCode::kInvalidArgument;
        dr.change_meta = {5, kDrawChangeBias, V, kDrawChangeBias};
        const bool outside = m.draw_logit_rows(dr, &tokens, &sums).code() == ErrorCode::kInvalidArgument;
        dr.change_meta = {5, kDrawChangeBias, 6, kDrawChangeBias};
        dr.params.pop_back();
        const bool short_params = m.draw_logit_rows(dr, &tokens, &sums).code() == ErrorCode::kInvalidArgument;
        dr.params.push_back(0);
        // Both at once: a malformed draw refuses the whole query, candidates and all.
        dr.change_meta = {5, kDrawChangeBias, 3, kDrawChangeBias};
        CandidateRows both_rows;
        const bool both_refused =
            m.query_logit_rows(&dr, &tokens, &sums, &req, &both_rows).code() == ErrorCode::kInvalidArgument;
        dr.change_meta = {5, kDrawChangeBias, 6, kDrawChangeBias};
        st = m.draw_logit_rows(dr, &tokens, &sums);  // no row has a query: all declined
        report(descending && outside && short_params && both_refused && st.ok() &&
                   tokens == std::vector<int32_t>(3, kDrawDeclined) && sums.size() == 3 && std::isnan(sums[0]) &&
                   std::isnan(sums[2]),
               run->name + ": draw_logit_rows (and query_logit_rows with it) refuses malformed requests; rows without a query are declined", st.message());
      }
      // Refusals: an extra id outside the vocabulary, a row the step did not have, and reading after
      // a step whose logits went to the host.
      CandidateRequest bad = req;
      bad.extra_ids[1] = V;
      report(m.select_logit_candidates(bad, &got).code() == ErrorCode::kInvalidArgument,
             run->name + ": refuses a candidate extra id outside the vocabulary", "");
      report(m.download_logit_rows({3}, rows.data()).code() == ErrorCode::kInvalidArgument,
             run->name + ": refuses a logit row the step did not have", "");
      st = m.step(host_in, &host_out);
      DrawRequest after_host;
      after_host.params.assign(3 * static_cast<size_t>(kDrawParams), 0.0);
      after_host.change_start = {0, 0, 0, 0};
      std::vector<int32_t> after_tokens;
      std::vector<double> after_sums;
      report(st.ok() && m.select_logit_candidates(req, &got).code() == ErrorCode::kInvalidArgument &&
                 m.draw_logit_rows(after_host, &after_tokens, &after_sums).code() == ErrorCode::kInvalidArgument &&
                 m.download_logit_rows({0}, rows.data()).code() == ErrorCode::kInvalidArgument,
             run->name + ": nothing to read after a step whose logits went to the host", st.message());

      // Sampled run-ahead: chosen on host logits (SamplingRun) and through the backend sampler.
      batch.steps = kSampled;
      StepInput run_in = script.build(items, OutputKind::kLogits, cfg.window, kSampled);
      StepOutput on_host, on_backend;
      {
        cpu::SamplingRun host_run(batch, kSampled);
        st = m.step_chosen(run_in, [&](int step, const float* logits, int32_t* ids) {
          host_run.sample_step(step, logits, V, pool, &host_scratch, ids);
          return Status::Ok();
        }, &on_host);
      }
      Status st2 = st;
      int null_logits = 0;
      if (st.ok()) {
        cpu::SamplingRun backend_run(batch, kSampled);
        run_in.output = OutputKind::kBackendLogits;
        st2 = m.step_chosen(run_in, [&](int step, const float* logits, int32_t* ids) {
          null_logits += logits == nullptr;
          GN_RETURN_IF_ERROR(sampler.sample(m, 3, [&](int r) { return backend_run.spec(step, r); }, pool, ids));
          backend_run.record_step(ids);
          return Status::Ok();
        }, &on_backend);
      }
      batch.steps = 1;
      report(st.ok() && st2.ok() && on_host.ids == on_backend.ids && on_host.ids.size() == 3 * kSampled &&
                 null_logits == kSampled,
             run->name + ": an 8-step sampled run-ahead through the backend sampler chooses the host's tokens",
             st.message() + " " + st2.message());
    }
  }

  const GraphStats end = graphs.model->graph_stats();
  report(end.enabled && end.disabled_reason.empty(), "cuda+graphs: no recording failed", end.disabled_reason);
  report(bf16_graphs.model->graph_stats().replays > 0, "cuda bf16+graphs: replays happened");
  report(fused.model->graph_stats().replays > 0 && fused.model->graph_stats().disabled_reason.empty(),
         "cuda+graphs+fused-ln: replays happened, no recording failed", fused.model->graph_stats().disabled_reason);
  report(stream.model->graph_stats().replays > 0 && stream.model->graph_stats().disabled_reason.empty(),
         "cuda bf16+graphs+gemv-stream: replays happened, no recording failed", stream.model->graph_stats().disabled_reason);
  report(defaults.model->graph_stats().replays > 0 && defaults.model->graph_stats().disabled_reason.empty(),
         "cuda bf16+graphs defaults: replays happened, no recording failed", defaults.model->graph_stats().disabled_reason);
  report(f32kv_stream.model->graph_stats().replays > 0 && f32kv_stream.model->graph_stats().disabled_reason.empty(),
         "cuda bf16w f32kv+graphs+gemv-stream: replays happened, no recording failed",
         f32kv_stream.model->graph_stats().disabled_reason);
  report(pdl.model->graph_stats().replays > 0 && pdl.model->graph_stats().disabled_reason.empty(),
         "cuda+graphs+pdl: replays happened, no recording failed", pdl.model->graph_stats().disabled_reason);
  report(plain.model->graph_stats().recorded == 0 && plain.model->graph_stats().replays == 0,
         "cuda: nothing recorded with recordings off");

  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  unlink(path.c_str());
  rmdir(dir_template);
  return g_failed == 0 ? 0 : 1;
}
