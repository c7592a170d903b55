// Backend: the device-specific half of the forward pass. model/gpt_neo.cpp is written once
// over this interface; cpu_backend.cpp implements it with the CPU kernels and (when built
// with CUDA) cuda_backend.cpp with the CUDA kernels. All activations are float32 row-major
// buffers in the backend's memory; weights are prepared once into whatever layout and dtype
// the backend's kernels want. Pointers named d_* are in the backend's memory (host memory on
// the CPU backend, device memory on CUDA).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace gptneo {

class ThreadPool;

enum class LinearEpilogue {
  kStore,       // y = x·Wᵀ + b
  kGeluNew,     // y = gelu_new(x·Wᵀ + b)
  kAccumulate,  // y += x·Wᵀ + b   (residual add)
};

// A Linear weight [n, k] (torch layout) prepared for the backend's GEMM.
class PreparedLinear {
 public:
  virtual ~PreparedLinear() = default;
  int n = 0;
  int k = 0;
  DType dtype = DType::kF32;  // storage dtype after preparation
  size_t bytes = 0;
};

// One step's packed batch, with every pointer in the backend's memory (d_*), except the
// scalars. Sequence s owns rows [seq_starts[s], seq_starts[s+1]) of the step's tokens.
struct DeviceBatch {
  int tokens = 0;
  int num_seqs = 0;
  const int32_t* d_token_ids = nullptr;    // [tokens]
  const int32_t* d_positions = nullptr;    // [tokens] absolute positions
  const int32_t* d_seq_starts = nullptr;   // [num_seqs + 1]
  const int32_t* d_block_tables = nullptr; // [num_seqs, max_blocks]
  int max_blocks = 0;
  int block_size = 0;
  int max_context = 0;                     // max over sequences of (last position + 1)
};

// One layer's paged KV cache: K and V, each [num_blocks, block_size, heads, head_dim] of dtype, in
// the backend's memory. The CPU backend keeps float32 caches; the CUDA backend also bf16/f16 (half
// the bytes; values rounded to nearest even when written).
struct KvCache {
  void* k = nullptr;
  void* v = nullptr;
  DType dtype = DType::kF32;
};

enum class BackendKind { kCpu, kCuda };

// One GPT-Neo block and the buffers a forward pass runs it with (Backend::layer):
//   h += attn_out(attention(split(qkv(layernorm(h; ln1)))))       (q, k, v: no bias; k/v into the cache)
//   h += c_proj(gelu_new(c_fc(layernorm(h; ln2))))
struct LayerStep {
  float* d_h = nullptr;  // [tokens, hidden] the residual stream, updated in place
  int tokens = 0, hidden = 0;
  const float *ln1_g = nullptr, *ln1_b = nullptr, *ln2_g = nullptr, *ln2_b = nullptr;  // [hidden]
  float eps = 0.f;
  const PreparedLinear *qkv = nullptr, *out_proj = nullptr, *c_fc = nullptr, *c_proj = nullptr;
  const float *out_proj_b = nullptr, *c_fc_b = nullptr, *c_proj_b = nullptr;
  const KvCache* kv = nullptr;
  const DeviceBatch* batch = nullptr;  // the tables this layer's cache is addressed by
  int heads = 0, head_dim = 0, window = 0;
  float scale = 1.f;
  DType attention_operands = DType::kF32;
  float* d_qkv = nullptr;   // scratch [tokens, 3 * hidden]
  float* d_attn = nullptr;  // scratch [tokens, hidden]
  float* d_norm = nullptr;  // scratch [tokens, hidden]
  float* d_mid = nullptr;   // scratch [tokens, c_fc->n]
};

// Backend::select_candidates over x [rows, cols]: for each row r with need[r] > 0, counts[r] = the
// number of columns ranking at or above the need[r]-th largest value (cuda/candidate_key.h order:
// NaN lowest, counted with multiplicity), and when that fits in [out_start[r], out_start[r + 1]),
// those columns (ascending) and their values, bit for bit, are written to ids/vals there (else they
// are left alone); need[r] <= 0 gives counts[r] = 0. extra_vals[e] = x[r, extra_ids[e]] for e in
// [extra_start[r], extra_start[r + 1]).
struct CandidateArgs {
  int rows = 0;
  int cols = 0;
  const int32_t* need = nullptr;         // [rows]
  const int32_t* out_start = nullptr;    // [rows + 1]
  const int32_t* extra_start = nullptr;  // [rows + 1]
  const int32_t* extra_ids = nullptr;    // [extra_start[rows]], each in [0, cols)
  int32_t* counts = nullptr;             // [rows]
  int32_t* ids = nullptr;                // [out_start[rows]]
  float* vals = nullptr;                 // [out_start[rows]]
  float* extra_vals = nullptr;           // [extra_start[rows]]
};

// Backend::draw_rows over x [rows, cols]: the device draw (cpu/device_draw.h draw_row per row, the
// query's layout in cuda/draw_bound.h): tokens[r] = row r's token, or kDrawUncertain / kDrawDeclined,
// or kDrawSummed for a sum query; sums[r] = the row's weight sum (NaN when declined).
struct DrawArgs {
  int rows = 0;
  int cols = 0;
  const double* params = nullptr;         // [rows, kDrawParams]
  const int32_t* change_start = nullptr;  // [rows + 1]
  const int32_t* change_meta = nullptr;   // [change_start[rows], 2]: id (ascending per row), flags
  const double* change_vals = nullptr;    // [change_start[rows], 2]: bias, amount
  int32_t* tokens = nullptr;              // [rows]
  double* sums = nullptr;                 // [rows]
};

// Work recorded once by Backend::capture_end and replayed by Backend::replay (a CUDA graph on
// the CUDA backend).
class RecordedWork {
 public:
  virtual ~RecordedWork() = default;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Experimental switches in effect on this backend (CUDA: set by GPTNEO_CUDA_* environment variables
  // when it was created; see csrc/cuda/README.md), reported by the model's info(). Empty by default.
  virtual std::vector<std::string> experimental_switches() const { return {}; }
  // The host thread pool the backend computes with, if any (the CPU backend's); host-side work
  // after a step (sampling) reuses it. nullptr: the backend computes elsewhere.
  virtual ThreadPool* host_pool() { return nullptr; }
  // Which implementation this is (lets backend-specific helpers downcast without RTTI).
  virtual BackendKind kind() const = 0;

  // --- memory ---------------------------------------------------------------------------
  virtual Status alloc(size_t bytes, void** d_ptr) = 0;  // 64-byte aligned at least
  virtual void release(void* d_ptr) = 0;
  virtual Status upload(void* d_dst, const void* h_src, size_t bytes) = 0;
  virtual Status download(void* h_dst, const void* d_src, size_t bytes) = 0;
  virtual Status fill_zero(void* d_dst, size_t bytes) = 0;
  // Host memory for what the host reads back often (the sampler's logit rows): page-locked on CUDA,
  // so that downloads into it run at the bus rate, ordinary memory elsewhere (and on CUDA when the
  // system refuses to lock more). 64-byte aligned; release_host frees it.
  virtual Status alloc_host(size_t bytes, void** h_ptr) {
    *h_ptr = std::aligned_alloc(64, bytes == 0 ? 64 : (bytes + 63) / 64 * 64);
    return *h_ptr ? Status::Ok() : OutOfMemory("out of host memory (" + std::to_string(bytes) + " bytes)");
  }
  virtual void release_host(void* h_ptr) { std::free(h_ptr); }
  // Copies queued on the backend's stream behind the work before them: the host leaves h_src alone,
  // and reads h_dst only, after the next synchronize(). Asynchronous for alloc_host's memory; with other
  // host memory CUDA may complete the copy before it returns, and the CPU backends always do.
  virtual Status upload_async(void* d_dst, const void* h_src, size_t bytes) { return upload(d_dst, h_src, bytes); }
  virtual Status download_async(void* h_dst, const void* d_src, size_t bytes) { return download(h_dst, d_src, bytes); }
  // A small upload (a step's ids, positions and block tables) queued behind the work before it without
  // waiting for that work where the backend can (CUDA: through its own page-locked staging block); h_src
  // is free again on return. Elsewhere the same as upload().
  virtual Status upload_staged(void* d_dst, const void* h_src, size_t bytes) { return upload(d_dst, h_src, bytes); }

  // --- weights (prepared once at load; sources are host memory, e.g. an mmap) ----------
  virtual Status prepare_linear(const void* h_w, DType src_dtype, int n, int k, DType store_dtype,
                                std::unique_ptr<PreparedLinear>* out) = 0;
  // Converts to float32 in backend memory. The backend owns *d_out until destruction.
  virtual Status prepare_vector(const void* h_v, DType src_dtype, size_t count, float** d_out) = 0;
  // An embedding table [rows, cols]. The CPU backend may return h_table itself when
  // store_dtype == src_dtype (used in place from the mmap). *dtype_out is the kept dtype.
  virtual Status prepare_table(const void* h_table, DType src_dtype, int rows, int cols,
                               DType store_dtype, const void** d_out, DType* dtype_out) = 0;

  // --- ops --------------------------------------------------------------------------------
  // d_out[t, :] = wte[ids[t], :] + wpe[pos[t], :]            d_out: [batch.tokens, dim]
  virtual Status embed(const DeviceBatch& batch, const void* d_wte, DType wte_dtype,
                       const void* d_wpe, DType wpe_dtype, int dim, float* d_out) = 0;
  // d_y = layernorm(d_x) per row                                [rows, dim], strides ldx/ldy
  virtual Status layernorm(const float* d_x, int rows, int dim, int ldx, const float* d_gamma,
                           const float* d_beta, float eps, float* d_y, int ldy) = 0;
  // d_y[m, n] (ldy) = epilogue(d_x[m, k] (ldx) · Wᵀ + d_bias[n])
  virtual Status linear(const float* d_x, int m, int ldx, const PreparedLinear& w,
                        const float* d_bias, float* d_y, int ldy, LinearEpilogue epilogue) = 0;
  // d_y = epilogue(layernorm(d_x) · Wᵀ + d_bias): layernorm then linear, with the normalised rows
  // in d_norm [m, k] (ld k). Backends may fuse the two (the CUDA decode GEMV can); d_norm then
  // holds nothing useful afterwards.
  virtual Status layernorm_linear(const float* d_x, int m, int ldx, const float* d_gamma, const float* d_beta,
                                  float eps, const PreparedLinear& w, const float* d_bias, float* d_y, int ldy,
                                  LinearEpilogue epilogue, float* d_norm) {
    GN_RETURN_IF_ERROR(layernorm(d_x, m, w.k, ldx, d_gamma, d_beta, eps, d_norm, w.k));
    return linear(d_norm, m, w.k, w, d_bias, d_y, ldy, epilogue);
  }
  // The MLP block with its residual add: d_y (ldy) += c_proj(gelu_new(c_fc(layernorm(d_x)))), i.e.
  // layernorm_linear (fc, fc_bias, gelu_new) into d_mid, then linear (proj, proj_bias, accumulate)
  // into d_y. d_norm [m, fc.k] and d_mid [m, fc.n] are scratch: nothing useful in them afterwards (a
  // backend may keep the activations in another type there). d_y may be d_x.
  virtual Status mlp(const float* d_x, int m, int ldx, const float* d_gamma, const float* d_beta, float eps,
                     const PreparedLinear& fc, const float* d_fc_bias, const PreparedLinear& proj,
                     const float* d_proj_bias, float* d_y, int ldy, float* d_norm, float* d_mid) {
    GN_RETURN_IF_ERROR(layernorm_linear(d_x, m, ldx, d_gamma, d_beta, eps, fc, d_fc_bias, d_mid, fc.n,
                                        LinearEpilogue::kGeluNew, d_norm));
    return linear(d_mid, m, fc.n, proj, d_proj_bias, d_y, ldy, LinearEpilogue::kAccumulate);
  }
  // One transformer block over the step's rows (GptNeoModel::forward_layers): the calls below in order.
  // Backends may run it otherwise (the CUDA backend: one launch for a one-row decode step, opt-in).
  virtual Status layer(const LayerStep& s);
  // Whether kv_write/attention take caches of this element dtype.
  virtual bool supports_kv_dtype(DType dtype) const { return dtype == DType::kF32; }
  // Writes the step's K/V rows ([tokens, heads*head_dim] float32, ld ldkv) into one layer's cache
  // at the slots of their positions.
  virtual Status kv_write(const float* d_k, const float* d_v, int ldkv, const DeviceBatch& batch,
                          int heads, int head_dim, const KvCache& cache) = 0;
  // Causal (window = 0) or local-window attention of each new token over its sequence's
  // cache. d_q: [tokens, heads*head_dim] (ldq); d_out: same shape (ldo). operands: the precision
  // the caller accepts for q·k and p·v — kF32, or kBF16/kF16 (a model whose projections run in
  // that type): a backend may then round q, k, v and the probabilities to it (softmax and sums
  // stay fp32). The CPU backend always computes in fp32; the CUDA backend's prefill uses tensor
  // cores for kBF16/kF16.
  virtual Status attention(const float* d_q, int ldq, const KvCache& cache, const DeviceBatch& batch,
                           int heads, int head_dim, int window, float scale, DType operands, float* d_out,
                           int ldo) = 0;
  // kv_write then attention with q, k, v rows of one step: the same cache contents and output. Backends
  // may do both in one pass (the CUDA decode kernel can, when every sequence has one row in the step).
  virtual Status kv_write_attention(const float* d_q, int ldq, const float* d_k, const float* d_v, int ldkv,
                                    const KvCache& cache, const DeviceBatch& batch, int heads, int head_dim,
                                    int window, float scale, DType operands, float* d_out, int ldo) {
    GN_RETURN_IF_ERROR(kv_write(d_k, d_v, ldkv, batch, heads, head_dim, cache));
    return attention(d_q, ldq, cache, batch, heads, head_dim, window, scale, operands, d_out, ldo);
  }
  // Gathers rows: d_dst[i, :] = d_src[rows[i], :]   (d_rows in backend memory)
  virtual Status gather_rows(const float* d_src, int ld_src, const int32_t* d_rows, int count,
                             int dim, float* d_dst) = 0;
  // Mean of each sequence's rows: d_out[s, :] = mean of d_x[r, :] for r in the rows of
  // sequence s (batch.d_seq_starts). d_x: [batch.tokens, dim] (ldx); d_out: [num_seqs, dim].
  virtual Status segment_mean(const float* d_x, int ldx, const DeviceBatch& batch, int dim,
                              float* d_out) = 0;
  // Argmax of each row of d_x [rows, cols] into d_out [rows] (ties: lowest index).
  virtual Status argmax_rows(const float* d_x, int rows, int cols, int32_t* d_out) = 0;

  // Sampling prefilter: each row's top candidates (cpu/candidates.h select_candidates_row per row,
  // ties with the need-th value kept) and the logits of extra ids, so that a sampler can work from
  // those instead of downloading whole rows (model/device_sampling.h). Every pointer of `args` is in
  // backend memory.
  virtual Status select_candidates(const float* d_x, const CandidateArgs& args) = 0;

  // The device draw: each row's token drawn where its logits are, for rows whose token depends on
  // the whole row (model/device_sampling.h); exact where it answers. Every pointer in backend memory.
  virtual Status draw_rows(const float* d_x, const DrawArgs& args) = 0;

  // Feeds one decode step's argmax back as the next step's input (decode run-ahead), for s < seqs:
  //   d_history[s] = d_argmax[s];  d_ids[s] = d_argmax[s];  d_positions[s] += 1.
  // d_argmax, d_ids, d_positions, d_history: [seqs], in backend memory; d_history must not overlap the others.
  virtual Status advance_decode(const int32_t* d_argmax, int seqs, int32_t* d_ids, int32_t* d_positions,
                                int32_t* d_history) = 0;

  // Waits for all queued work (a no-op on the CPU backend).
  virtual Status synchronize() = 0;

  // --- recording (optional; the CUDA backend records CUDA graphs) -------------------------------
  // Ops issued between capture_begin and capture_end are recorded instead of run; replay re-runs
  // them with the same pointers and scalar arguments, reading whatever the buffers hold then (so
  // per-step data must live in fixed buffers, updated with upload() before each replay). While
  // capturing, everything that would synchronize is refused with kInvalidArgument: alloc,
  // upload, download, prepare_*, synchronize, and an attention whose scratch would have to grow
  // (run the same step shape once uncaptured first). release() during a capture is deferred to
  // its end. One capture at a time, opened and closed on one thread.
  virtual bool can_record() const { return false; }
  virtual Status capture_begin() { return Unsupported(name() + " cannot record work"); }
  // Ends the capture; on success *out holds the recording. The capture is closed either way.
  virtual Status capture_end(std::unique_ptr<RecordedWork>* out) {
    (void)out;
    return Unsupported(name() + " cannot record work");
  }
  // Queues one replay (synchronize() waits for it). `work` must come from this backend.
  virtual Status replay(const RecordedWork& work) {
    (void)work;
    return Unsupported(name() + " cannot record work");
  }
};

inline Status Backend::layer(const LayerStep& s) {
  const int T = s.tokens, H = s.hidden;
  GN_RETURN_IF_ERROR(layernorm_linear(s.d_h, T, H, s.ln1_g, s.ln1_b, s.eps, *s.qkv, nullptr, s.d_qkv, 3 * H,
                                      LinearEpilogue::kStore, s.d_norm));
  GN_RETURN_IF_ERROR(kv_write_attention(s.d_qkv, 3 * H, s.d_qkv + H, s.d_qkv + 2 * H, 3 * H, *s.kv, *s.batch, s.heads,
                                        s.head_dim, s.window, s.scale, s.attention_operands, s.d_attn, H));
  GN_RETURN_IF_ERROR(linear(s.d_attn, T, H, *s.out_proj, s.out_proj_b, s.d_h, H, LinearEpilogue::kAccumulate));
  return mlp(s.d_h, T, H, s.ln2_g, s.ln2_b, s.eps, *s.c_fc, s.c_fc_b, *s.c_proj, s.c_proj_b, s.d_h, H, s.d_norm, s.d_mid);
}

}  // namespace gptneo
