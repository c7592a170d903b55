// CudaBackend: the Backend interface over the CUDA kernels' plain-C launchers (cuda/api.h).
// Host C++ only (no CUDA headers), so it builds with the addon's flags (-fno-rtti).
// All work is queued on one stream per backend; every CUDA status becomes a gptneo::Status.
#include "model/cuda_backend.h"

#include <climits>
#include <cstring>
#include <cstdlib>
#include <cstdio>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cuda/api.h"
#include "cuda/pooling_api.h"

namespace gptneo {

// The runtime's errors after which the process's CUDA context is unusable ("sticky": every later call
// returns them): a kernel's fault or trap, an uncorrectable memory error.
bool cuda_error_is_sticky(int st) {
  switch (st) {
    case 214:  // cudaErrorECCUncorrectable
    case 700:  // cudaErrorIllegalAddress
    case 702:  // cudaErrorLaunchTimeout
    case 710:  // cudaErrorAssert
    case 714:  // cudaErrorHardwareStackError
    case 715:  // cudaErrorIllegalInstruction
    case 716:  // cudaErrorMisalignedAddress
    case 717:  // cudaErrorInvalidAddressSpace
    case 718:  // cudaErrorInvalidPc
    case 719:  // cudaErrorLaunchFailure (also a kernel's trap)
      return true;
    default:
      return false;
  }
}

Status cuda_status(int st, const char* what) {
  constexpr int kCudaErrorMemoryAllocation = 2;
  if (st == GN_CUDA_OK) return Status::Ok();
  std::string msg = std::string(what) + ": " + gn_cuda_status_string(st) + " (" + gn_cuda_status_name(st) + ")";
  if (st == GN_CUDA_EINVAL) return InvalidArgument(msg);
  if (st == GN_CUDA_EUNSUPPORTED) return Unsupported(msg);
  if (st == kCudaErrorMemoryAllocation) return OutOfMemory(msg);
  if (cuda_error_is_sticky(st))
    msg += "; the GPU stopped a kernel, and CUDA keeps this process's GPU context unusable after that: dispose "
           "the model and restart the process (a fault with an opt-in GPTNEO_CUDA_* switch on is worth reporting, "
           "with info().cudaExperimental)";
  return Status(ErrorCode::kCuda, msg);
}

namespace {

constexpr int kCudaErrorInsufficientDriver = 35;
constexpr int kCudaErrorNoDevice = 100;

#define GN_CUDA_STATUS(expr, what) GN_RETURN_IF_ERROR(cuda_status((expr), (what)))

std::string no_device_reason(int st) {
  if (st == kCudaErrorInsufficientDriver)
    return "no NVIDIA driver was found, or it is older than this build's CUDA runtime needs "
           "(cudaErrorInsufficientDriver); install or update the NVIDIA driver";
  if (st == kCudaErrorNoDevice) return "no CUDA-capable device is present (cudaErrorNoDevice)";
  return std::string("CUDA is unavailable: ") + gn_cuda_status_string(st) + " (" + gn_cuda_status_name(st) + ")";
}

// GPTNEO_SIMULATE_CUDA, for tests of the fallbacks on any machine: "no-driver" (the runtime finds no
// driver or one too old for it: cudaErrorInsufficientDriver), "no-device" (cudaErrorNoDevice), or
// "sm75" (one device of compute capability 7.5, below what the kernels need). Unset: the real answer.
const char* simulated_cuda() {
  const char* v = std::getenv("GPTNEO_SIMULATE_CUDA");
  return v != nullptr && *v != '\0' ? v : nullptr;
}

int query_device_count(int* n) {
  if (const char* sim = simulated_cuda()) {
    *n = 0;
    if (std::strcmp(sim, "no-driver") == 0) return kCudaErrorInsufficientDriver;
    if (std::strcmp(sim, "no-device") == 0) return kCudaErrorNoDevice;
    if (std::strcmp(sim, "sm75") == 0) {
      *n = 1;
      return GN_CUDA_OK;
    }
  }
  return gn_cuda_device_count(n);
}

int query_device_info(int index, gn_cuda_device_info* info) {
  const char* sim = simulated_cuda();
  if (sim != nullptr && std::strcmp(sim, "sm75") == 0) {
    *info = gn_cuda_device_info{};
    std::snprintf(info->name, sizeof info->name, "%s", "Simulated GPU (sm_75)");
    info->total_memory = size_t{16} << 30;
    info->major = 7;
    info->minor = 5;
    info->multiprocessors = 40;
    return GN_CUDA_OK;
  }
  return gn_cuda_device_info_get(index, info);
}

// A Linear weight [n, k] in device memory, row-major in `dtype`.
class CudaLinear : public PreparedLinear {
 public:
  explicit CudaLinear(void* d_w) : d_w_(d_w) {}
  ~CudaLinear() override { gn_cuda_free(d_w_); }
  CudaLinear(const CudaLinear&) = delete;
  CudaLinear& operator=(const CudaLinear&) = delete;
  const void* data() const { return d_w_; }

 private:
  void* d_w_;
};

class CudaBackend;

// A graph recorded on a CudaBackend (a cudaGraphExec_t behind the C API).
class CudaGraphImpl : public RecordedWork {
 public:
  CudaGraphImpl(const Backend* owner, void* exec) : owner_(owner), exec_(exec) {}
  ~CudaGraphImpl() override { gn_cuda_graph_destroy(exec_); }
  CudaGraphImpl(const CudaGraphImpl&) = delete;
  CudaGraphImpl& operator=(const CudaGraphImpl&) = delete;
  const Backend* owner() const { return owner_; }
  void* exec() const { return exec_; }

 private:
  const Backend* owner_;
  void* exec_;
};

class CudaBackend : public Backend {
 public:
  CudaBackend(int device, void* stream, std::string device_name)
      : device_(device), stream_(stream), device_name_(std::move(device_name)) {
    // Decode switches, chosen by measurement on an H200 (bench/RESULTS.md, run 4; csrc/cuda/NOTES.md
    // round 8); each variable's "0" restores the kernels used before.
    // GPTNEO_CUDA_GEMV_STREAM: the streaming GEMV takes decode projections of up to
    // kGemvStreamDefaultRows rows (1.3B batch 1: 469 -> 612 tok/s; past 4 rows the plain GEMV is
    // faster on some layers); "1" gives it every row count it serves (up to 8), "0" none.
    gemv_stream_rows_ = env_is("GPTNEO_CUDA_GEMV_STREAM", "0")   ? 0
                        : env_is("GPTNEO_CUDA_GEMV_STREAM", "1") ? kGemvStreamMaxRows
                                                                 : kGemvStreamDefaultRows;
    // GPTNEO_CUDA_FUSED_LN=1: layer norms folded into the decode GEMV. Opt-in: its first version measured
    // slower than a separate layer norm in every decode-layer configuration; rewritten since (NOTES.md
    // round 9), not yet measured.
    fused_layernorm_ = env_is("GPTNEO_CUDA_FUSED_LN", "1");
    // GPTNEO_CUDA_FUSED_KV=1: a decode step's kv_write done by its attention kernel (one launch fewer per
    // layer). Opt-in until it has run on a GPU.
    fused_kv_write_ = env_is("GPTNEO_CUDA_FUSED_KV", "1");
    // GPTNEO_CUDA_PDL (default on; "0" off): the decode-path kernels on this backend's stream become
    // programmatic dependent launches on sm_90+ (1.3B batch 1: +6%, with the streaming GEMV +13%).
    // Best effort: a stream that cannot be marked, or a GPU without it, runs as before.
    if (!env_is("GPTNEO_CUDA_PDL", "0")) (void)gn_cuda_stream_set_programmatic_launch(stream_, 1);
    // GPTNEO_CUDA_L2_PREFETCH=1: the streaming GEMV's warps ask L2 for their weight rows before waiting for
    // the previous kernel (NOTES.md round 10). Opt-in until measured; best effort, as above.
    if (env_is("GPTNEO_CUDA_L2_PREFETCH", "1")) (void)gn_cuda_stream_set_l2_prefetch(stream_, 1);
    // GPTNEO_CUDA_X16=1: prompt-sized layer norms and MLPs hand their activations to the wgmma GEMMs
    // already rounded to the weight type (no rounding pass; c_fc writes 16-bit). Opt-in until a GPU has
    // run it; the results equal the default's bit for bit.
    x16_activations_ = env_is("GPTNEO_CUDA_X16", "1");
    // GPTNEO_CUDA_FUSED_LAYER=1: a one-row decode step's blocks as one persistent cooperative launch each
    // (csrc/cuda/NOTES.md round 12). Opt-in until a GPU has run it; the results equal those of the
    // streaming GEMV with its layer norm (GPTNEO_CUDA_FUSED_LN=1) and the fused kv write.
    fused_decode_layer_ = env_is("GPTNEO_CUDA_FUSED_LAYER", "1");
    // GPTNEO_CUDA_ROW_STAGE=1: the sampling kernels (prefilter, device draw) copy each row into shared
    // memory first where a block holds it (NOTES.md round 17). Opt-in until a GPU has run it; the answers
    // are the same either way. Process-wide: the backend created last decides.
    gn_cuda_set_row_stage(env_is("GPTNEO_CUDA_ROW_STAGE", "1") ? 1 : 0);
    // GPTNEO_CUDA_DECODE_KEYS16=8: the decode attention kernel keeps 8 keys per lane group in flight for
    // bf16/f16 caches instead of 4 (NOTES.md round 17). Opt-in until a GPU has run it. Process-wide, as above.
    gn_cuda_set_decode_keys16(env_is("GPTNEO_CUDA_DECODE_KEYS16", "8") ? 8 : 4);
    // GPTNEO_CUDA_DECODE_SPLIT=waves: the decode attention's split plan counts the kernel's waves (NOTES.md
    // round 19). Opt-in until a GPU has timed it; the results are the same within rounding. Process-wide, as above.
    gn_cuda_set_decode_split_waves(env_is("GPTNEO_CUDA_DECODE_SPLIT", "waves") ? 1 : 0);
  }

  std::vector<std::string> experimental_switches() const override {
    gn_cuda_set_device(device_);  // (the queries below read the current device)
    std::vector<std::string> on;
    if (fused_layernorm_) on.push_back("fusedLayerNorm");
    if (fused_kv_write_) on.push_back("fusedKvWrite");
    if (fused_decode_layer_) on.push_back("fusedDecodeLayer");
    if (gemv_stream_rows_ > 0) on.push_back("gemvStream");
    // As the launchers decide them (the stream marked on a GPU that has it; the wgmma image usable).
    if (gn_cuda_stream_programmatic_launch(stream_)) on.push_back("programmaticLaunch");
    if (gn_cuda_stream_l2_prefetch(stream_)) on.push_back("l2Prefetch");
    if (x16_activations_ && gn_cuda_gemm_wgmma_enabled()) on.push_back("x16Activations");
    if (const char* wgmma = gn_cuda_gemm_wgmma_switch(gn_cuda_gemm_wgmma_enabled())) on.push_back(wgmma);
    if (gn_cuda_gemm_decode_tc_cluster_enabled()) on.push_back("decodeTcCluster");  // (process-wide)
    if (gn_cuda_row_stage_enabled()) on.push_back("rowStage");                        // (process-wide)
    if (gn_cuda_decode_keys16() == 8) on.push_back("decodeKeys16");                   // (process-wide)
    if (gn_cuda_decode_split_waves()) on.push_back("decodeSplitWaves");               // (process-wide)
    const int wgmma_attention = gn_cuda_attention_wgmma_enabled();  // (opt-in, process-wide)
    if (wgmma_attention != 0)
      on.push_back(wgmma_attention == GN_ATTENTION_WGMMA_PIPELINED ? "wgmmaAttentionPipelined" : "wgmmaAttention");
    return on;
  }

  ~CudaBackend() override {
    gn_cuda_set_device(device_);
    if (capturing_) {
      void* exec = nullptr;
      gn_cuda_capture_end(stream_, &exec);
      gn_cuda_graph_destroy(exec);
      for (void* p : deferred_release_) gn_cuda_free(p);
      capturing_ = false;
      for (void* p : deferred_host_release_) release_host(p);
    }
    gn_cuda_stream_synchronize(stream_);
    if (stage_ != nullptr) free_host_block(stage_);
    for (void* p : owned_) gn_cuda_free(p);
    for (void* p : retired_) gn_cuda_free(p);
    gn_cuda_free(workspace_);
    gn_cuda_stream_destroy(stream_);
  }

  std::string name() const override { return "cuda:" + std::to_string(device_) + " (" + device_name_ + ")"; }
  BackendKind kind() const override { return BackendKind::kCuda; }

  Status alloc(size_t bytes, void** d_ptr) override {
    GN_CHECK_ARG(d_ptr != nullptr, "alloc: null output pointer");
    GN_RETURN_IF_ERROR(not_capturing("alloc"));
    GN_RETURN_IF_ERROR(enter());
    int st = gn_cuda_malloc(d_ptr, bytes);
    if (st != GN_CUDA_OK)
      return OutOfMemory("cudaMalloc of " + std::to_string(bytes) + " bytes on " + name() + " failed: " +
                         gn_cuda_status_string(st));
    return Status::Ok();
  }

  // Page-locked where the system allows it, else ordinary memory (remembered, to free it the same way).
  Status alloc_host(size_t bytes, void** h_ptr) override {
    GN_CHECK_ARG(h_ptr != nullptr, "alloc_host: null output pointer");
    GN_RETURN_IF_ERROR(not_capturing("alloc_host"));
    GN_RETURN_IF_ERROR(enter());
    if (gn_cuda_host_alloc(h_ptr, bytes) == GN_CUDA_OK) return Status::Ok();
    GN_RETURN_IF_ERROR(Backend::alloc_host(bytes, h_ptr));
    pageable_host_.insert(*h_ptr);
    return Status::Ok();
  }

  void release_host(void* h_ptr) override {
    if (h_ptr == nullptr) return;
    if (capturing_) {  // freeing would synchronize: after the capture ends
      deferred_host_release_.push_back(h_ptr);
      return;
    }
    enter();
    drain();  // a queued download may still write it
    free_host_block(h_ptr);
  }

  void release(void* d_ptr) override {
    if (d_ptr == nullptr) return;
    if (capturing_) {  // freeing would synchronize: after the capture ends
      deferred_release_.push_back(d_ptr);
      return;
    }
    enter();
    drain();  // queued work may still read it
    gn_cuda_free(d_ptr);
  }

  Status upload(void* d_dst, const void* h_src, size_t bytes) override {
    GN_RETURN_IF_ERROR(not_capturing("upload"));
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_upload(d_dst, h_src, bytes, stream_), "upload to the GPU");
    if (bytes > 0) stage_used_ = 0;  // gn_cuda_upload waited for the stream (not for 0 bytes: nothing to copy)
    return Status::Ok();
  }

  Status download(void* h_dst, const void* d_src, size_t bytes) override {
    GN_RETURN_IF_ERROR(not_capturing("download"));
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_download(h_dst, d_src, bytes, stream_), "download from the GPU");
    if (bytes > 0) stage_used_ = 0;  // gn_cuda_download waited for the stream (not for 0 bytes)
    return Status::Ok();
  }

  // Through the staging block: copied there now, queued from there behind the stream's work. A region
  // of the block is copied from once and taken again only after the stream has drained (every wait
  // on the stream frees the whole block); when it is full, this waits first, as upload() always does.
  Status upload_staged(void* d_dst, const void* h_src, size_t bytes) override {
    GN_RETURN_IF_ERROR(not_capturing("upload"));
    GN_RETURN_IF_ERROR(enter());
    if (bytes == 0) return Status::Ok();
    const size_t need = (bytes + 63) / 64 * 64;
    if (stage_used_ + need > stage_bytes_) {
      if (stage_used_ > 0) GN_CUDA_STATUS(drain(), "upload to the GPU (waiting for the staging block)");
      if (need > stage_bytes_) {
        if (stage_ != nullptr) free_host_block(stage_);
        stage_ = nullptr;
        stage_bytes_ = 0;
        const size_t want = need > kStageMinBytes ? need * 2 : kStageMinBytes;
        GN_RETURN_IF_ERROR(alloc_host(want, &stage_));
        stage_bytes_ = want;
      }
    }
    uint8_t* at = static_cast<uint8_t*>(stage_) + stage_used_;
    std::memcpy(at, h_src, bytes);
    GN_CUDA_STATUS(gn_cuda_upload_async(d_dst, at, bytes, stream_), "upload to the GPU");
    stage_used_ += need;
    return Status::Ok();
  }

  Status upload_async(void* d_dst, const void* h_src, size_t bytes) override {
    GN_RETURN_IF_ERROR(not_capturing("upload"));
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_upload_async(d_dst, h_src, bytes, stream_), "upload to the GPU");
    return Status::Ok();
  }

  Status download_async(void* h_dst, const void* d_src, size_t bytes) override {
    GN_RETURN_IF_ERROR(not_capturing("download"));
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_download_async(h_dst, d_src, bytes, stream_), "download from the GPU");
    return Status::Ok();
  }

  Status fill_zero(void* d_dst, size_t bytes) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_memset(d_dst, 0, bytes, stream_), "fill_zero");
    return Status::Ok();
  }

  Status prepare_linear(const void* h_w, DType src_dtype, int n, int k, DType store_dtype,
                        std::unique_ptr<PreparedLinear>* out) override {
    GN_CHECK_ARG(h_w != nullptr && out != nullptr && n > 0 && k > 0, "prepare_linear: bad arguments");
    void* d_w = nullptr;
    GN_RETURN_IF_ERROR(upload_converted(h_w, src_dtype, (size_t)n * k, store_dtype, &d_w));
    auto lin = std::make_unique<CudaLinear>(d_w);
    lin->n = n;
    lin->k = k;
    lin->dtype = store_dtype;
    lin->bytes = (size_t)n * k * dtype_size(store_dtype);
    *out = std::move(lin);
    return Status::Ok();
  }

  Status prepare_vector(const void* h_v, DType src_dtype, size_t count, float** d_out) override {
    GN_CHECK_ARG(h_v != nullptr && d_out != nullptr && count > 0, "prepare_vector: bad arguments");
    void* d = nullptr;
    GN_RETURN_IF_ERROR(upload_converted(h_v, src_dtype, count, DType::kF32, &d));
    owned_.push_back(d);
    *d_out = static_cast<float*>(d);
    return Status::Ok();
  }

  Status prepare_table(const void* h_table, DType src_dtype, int rows, int cols, DType store_dtype,
                       const void** d_out, DType* dtype_out) override {
    GN_CHECK_ARG(h_table != nullptr && d_out != nullptr && rows > 0 && cols > 0, "prepare_table: bad arguments");
    void* d = nullptr;
    GN_RETURN_IF_ERROR(upload_converted(h_table, src_dtype, (size_t)rows * cols, store_dtype, &d));
    owned_.push_back(d);
    table_rows_[d] = rows;
    *d_out = d;
    if (dtype_out) *dtype_out = store_dtype;
    return Status::Ok();
  }

  Status embed(const DeviceBatch& b, const void* d_wte, DType wte_dtype, const void* d_wpe, DType wpe_dtype,
               int dim, float* d_out) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_embed(b.d_token_ids, b.d_positions, b.tokens, d_wte, (int)wte_dtype, rows_of(d_wte),
                                 d_wpe, (int)wpe_dtype, rows_of(d_wpe), dim, d_out, stream_),
                   "embed");
    return Status::Ok();
  }

  Status layernorm(const float* d_x, int rows, int dim, int ldx, const float* d_gamma, const float* d_beta,
                   float eps, float* d_y, int ldy) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_layernorm(d_x, rows, dim, ldx, d_gamma, d_beta, eps, d_y, ldy, stream_), "layernorm");
    return Status::Ok();
  }

  // `w` must come from this backend's prepare_linear (the build has no RTTI to check it).
  Status linear(const float* d_x, int m, int ldx, const PreparedLinear& w, const float* d_bias, float* d_y,
                int ldy, LinearEpilogue epilogue) override {
    GN_RETURN_IF_ERROR(enter());
    const auto& cw = static_cast<const CudaLinear&>(w);
    if (streams_gemv(m, w, cw, d_x, ldx)) {
      GN_CUDA_STATUS(gn_cuda_gemv_stream(d_x, m, ldx, nullptr, nullptr, 0.f, cw.data(), (int)w.dtype, w.n, w.k, d_bias,
                                         d_y, ldy, (int)epilogue, stream_),
                     "linear");
      return Status::Ok();
    }
    GN_CUDA_STATUS(gn_cuda_gemm(d_x, m, ldx, cw.data(), (int)w.dtype, w.n, w.k, d_bias, d_y, ldy,
                                (int)epilogue, stream_),
                   "linear");
    return Status::Ok();
  }

  // The decode GEMV layer-norms x itself when GPTNEO_CUDA_FUSED_LN=1 (opt-in: its first version measured
  // slower than the separate layer norm on an H200; rewritten since, not yet measured), the shape allows
  // and the GEMV is what the linear would run anyway (not for rows the tensor cores take). The model asks
  // for ln_1 → qkv, ln_2 → c_fc and, in recorded decode steps, ln_f → lm_head.
  Status layernorm_linear(const float* d_x, int m, int ldx, const float* d_gamma, const float* d_beta, float eps,
                          const PreparedLinear& w, const float* d_bias, float* d_y, int ldy, LinearEpilogue epilogue,
                          float* d_norm) override {
    const auto& cw = static_cast<const CudaLinear&>(w);
    // GPTNEO_CUDA_X16=1 and a wgmma GEMM: the layer norm writes the GEMM's rounded x into d_norm.
    if (const int kernel = x16_gemm(m, w, d_norm); kernel >= 0) {
      GN_RETURN_IF_ERROR(enter());
      GN_CUDA_STATUS(gn_cuda_layernorm_x16(d_x, m, w.k, ldx, d_gamma, d_beta, eps, d_norm, (int)w.dtype, w.k, stream_),
                     "layernorm_linear");
      GN_CUDA_STATUS(gn_cuda_gemm_x16(kernel, d_norm, (int)w.dtype, m, w.k, cw.data(), (int)w.dtype, w.n, w.k, d_bias,
                                      d_y, GN_DTYPE_F32, ldy, (int)epilogue, stream_),
                     "layernorm_linear");
      return Status::Ok();
    }
    if (!fused_layernorm_ || !gn_cuda_layernorm_gemv_supported(m, w.n, w.k, (int)w.dtype, cw.data()) ||
        gn_cuda_gemm_select(m, w.n, w.k, (int)w.dtype, d_norm, w.k, cw.data()) != GN_GEMM_GEMV)
      return Backend::layernorm_linear(d_x, m, ldx, d_gamma, d_beta, eps, w, d_bias, d_y, ldy, epilogue, d_norm);
    GN_RETURN_IF_ERROR(enter());
    if (streams_gemv(m, w, cw, d_norm, w.k)) {
      GN_CUDA_STATUS(gn_cuda_gemv_stream(d_x, m, ldx, d_gamma, d_beta, eps, cw.data(), (int)w.dtype, w.n, w.k, d_bias,
                                         d_y, ldy, (int)epilogue, stream_),
                     "layernorm_linear");
      return Status::Ok();
    }
    GN_CUDA_STATUS(gn_cuda_layernorm_gemv(d_x, m, ldx, d_gamma, d_beta, eps, cw.data(), (int)w.dtype, w.n, w.k, d_bias,
                                          d_y, ldy, (int)epilogue, stream_),
                   "layernorm_linear");
    return Status::Ok();
  }

  // GPTNEO_CUDA_X16=1 and both projections on wgmma GEMMs: layer norm → 16-bit x in d_norm → c_fc with
  // gelu_new written 16-bit into d_mid → c_proj reading it, accumulating into d_y. No rounding pass; the
  // values each GEMM reads are those the pass would have made, so the result is the default's.
  Status mlp(const float* d_x, int m, int ldx, const float* d_gamma, const float* d_beta, float eps,
             const PreparedLinear& fc, const float* d_fc_bias, const PreparedLinear& proj, const float* d_proj_bias,
             float* d_y, int ldy, float* d_norm, float* d_mid) override {
    const int fc_kernel = x16_gemm(m, fc, d_norm), proj_kernel = x16_gemm(m, proj, d_mid);
    if (fc_kernel < 0 || proj_kernel < 0 || fc.dtype != proj.dtype || proj.k != fc.n)
      return Backend::mlp(d_x, m, ldx, d_gamma, d_beta, eps, fc, d_fc_bias, proj, d_proj_bias, d_y, ldy, d_norm, d_mid);
    GN_RETURN_IF_ERROR(enter());
    const int t = (int)fc.dtype;
    GN_CUDA_STATUS(gn_cuda_layernorm_x16(d_x, m, fc.k, ldx, d_gamma, d_beta, eps, d_norm, t, fc.k, stream_), "mlp");
    GN_CUDA_STATUS(gn_cuda_gemm_x16(fc_kernel, d_norm, t, m, fc.k, static_cast<const CudaLinear&>(fc).data(), t, fc.n,
                                    fc.k, d_fc_bias, d_mid, t, fc.n, GN_EPILOGUE_GELU_NEW, stream_),
                   "mlp");
    GN_CUDA_STATUS(gn_cuda_gemm_x16(proj_kernel, d_mid, t, m, proj.k, static_cast<const CudaLinear&>(proj).data(), t,
                                    proj.n, proj.k, d_proj_bias, d_y, GN_DTYPE_F32, ldy, GN_EPILOGUE_ACCUMULATE, stream_),
                   "mlp");
    return Status::Ok();
  }

  // GPTNEO_CUDA_FUSED_LAYER=1: a one-row decode step's block in one cooperative launch (gn_cuda_decode_layer),
  // where it serves the layer; else the calls of Backend::layer.
  Status layer(const LayerStep& s) override {
    if (!fused_decode_layer_ || s.tokens != 1 || s.batch->num_seqs != 1 || !supports_kv_dtype(s.kv->dtype) ||
        s.qkv->dtype != s.out_proj->dtype || s.qkv->dtype != s.c_fc->dtype || s.qkv->dtype != s.c_proj->dtype)
      return Backend::layer(s);
    GN_RETURN_IF_ERROR(enter());
    gn_cuda_decode_layer_args a{};
    a.d_h = s.d_h;
    a.hidden = s.hidden;
    a.inner = s.c_fc->n;
    a.d_ln1_gamma = s.ln1_g;
    a.d_ln1_beta = s.ln1_b;
    a.d_ln2_gamma = s.ln2_g;
    a.d_ln2_beta = s.ln2_b;
    a.eps = s.eps;
    a.w_dtype = (int)s.qkv->dtype;
    a.d_w_qkv = static_cast<const CudaLinear*>(s.qkv)->data();
    a.d_w_out = static_cast<const CudaLinear*>(s.out_proj)->data();
    a.d_b_out = s.out_proj_b;
    a.d_w_fc = static_cast<const CudaLinear*>(s.c_fc)->data();
    a.d_b_fc = s.c_fc_b;
    a.d_w_proj = static_cast<const CudaLinear*>(s.c_proj)->data();
    a.d_b_proj = s.c_proj_b;
    a.d_k_cache = s.kv->k;
    a.d_v_cache = s.kv->v;
    a.cache_dtype = (int)s.kv->dtype;
    a.batch = to_c(*s.batch);
    a.heads = s.heads;
    a.head_dim = s.head_dim;
    a.window = s.window;
    a.scale = s.scale;
    a.d_qkv = s.d_qkv;
    a.d_attn = s.d_attn;
    a.d_mid = s.d_mid;
    GN_RETURN_IF_ERROR(ensure_attention_workspace(a.batch, s.heads, s.head_dim));
    a.d_workspace = workspace_;
    a.workspace_bytes = workspace_bytes_;
    // One call per layer and token: the launcher's own checks decide (a refusal queues nothing).
    const int st = gn_cuda_decode_layer(&a, stream_);
    if (st == GN_CUDA_EUNSUPPORTED) return Backend::layer(s);
    GN_CUDA_STATUS(st, "decode layer");
    if (capturing_) workspace_in_graph_ = true;
    return Status::Ok();
  }

  bool supports_kv_dtype(DType dtype) const override { return dtype != DType::kI8; }

  Status kv_write(const float* d_k, const float* d_v, int ldkv, const DeviceBatch& batch, int heads, int head_dim,
                  const KvCache& cache) override {
    GN_RETURN_IF_ERROR(enter());
    if (!supports_kv_dtype(cache.dtype)) return InvalidArgument("kv_write: the cache must be float32, bf16 or f16");
    gn_cuda_batch b = to_c(batch);
    GN_CUDA_STATUS(gn_cuda_kv_write(d_k, d_v, ldkv, &b, heads, head_dim, cache.k, cache.v, (int)cache.dtype, stream_),
                   "kv_write");
    return Status::Ok();
  }

  Status attention(const float* d_q, int ldq, const KvCache& cache, const DeviceBatch& batch, int heads, int head_dim,
                   int window, float scale, DType operands, float* d_out, int ldo) override {
    GN_RETURN_IF_ERROR(enter());
    if (operands == DType::kI8) return InvalidArgument("attention: operands must be a floating-point dtype");
    if (!supports_kv_dtype(cache.dtype)) return InvalidArgument("attention: the cache must be float32, bf16 or f16");
    gn_cuda_batch b = to_c(batch);
    GN_RETURN_IF_ERROR(ensure_attention_workspace(b, heads, head_dim));
    GN_CUDA_STATUS(gn_cuda_attention(d_q, ldq, cache.k, cache.v, (int)cache.dtype, &b, heads, head_dim, window, scale,
                                     (int)operands, d_out, ldo, attention_workspace(), attention_workspace_bytes(), stream_),
                   "attention");
    if (capturing_) workspace_in_graph_ = true;
    return Status::Ok();
  }

  Status kv_write_attention(const float* d_q, int ldq, const float* d_k, const float* d_v, int ldkv,
                            const KvCache& cache, const DeviceBatch& batch, int heads, int head_dim, int window,
                            float scale, DType operands, float* d_out, int ldo) override {
    // One launch where every sequence has one row (a decode step) and the decode kernel serves it (the
    // launcher refuses the rest with GN_CUDA_EUNSUPPORTED before queuing anything); else kv_write, then
    // attention.
    if (!fused_kv_write_ || !supports_kv_dtype(cache.dtype))
      return Backend::kv_write_attention(d_q, ldq, d_k, d_v, ldkv, cache, batch, heads, head_dim, window, scale,
                                         operands, d_out, ldo);
    GN_RETURN_IF_ERROR(enter());
    gn_cuda_batch b = to_c(batch);
    GN_RETURN_IF_ERROR(ensure_attention_workspace(b, heads, head_dim));
    const int st = gn_cuda_attention_append(d_q, ldq, d_k, d_v, ldkv, cache.k, cache.v, (int)cache.dtype, &b, heads,
                                            head_dim, window, scale, d_out, ldo, attention_workspace(),
                                            attention_workspace_bytes(), stream_);
    if (st == GN_CUDA_EUNSUPPORTED)  // (refused before anything was queued)
      return Backend::kv_write_attention(d_q, ldq, d_k, d_v, ldkv, cache, batch, heads, head_dim, window, scale,
                                         operands, d_out, ldo);
    GN_CUDA_STATUS(st, "kv_write_attention");
    if (capturing_) workspace_in_graph_ = true;
    return Status::Ok();
  }

  Status gather_rows(const float* d_src, int ld_src, const int32_t* d_rows, int count, int dim,
                     float* d_dst) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_gather_rows(d_src, ld_src, d_rows, count, dim, d_dst, stream_), "gather_rows");
    return Status::Ok();
  }

  Status segment_mean(const float* d_x, int ldx, const DeviceBatch& batch, int dim,
                      float* d_out) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_segment_mean(d_x, ldx, batch.d_seq_starts, batch.num_seqs, dim, d_out, stream_),
                   "segment_mean");
    return Status::Ok();
  }

  Status argmax_rows(const float* d_x, int rows, int cols, int32_t* d_out) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_argmax_rows(d_x, rows, cols, d_out, stream_), "argmax_rows");
    return Status::Ok();
  }

  Status select_candidates(const float* d_x, const CandidateArgs& a) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_select_candidates(d_x, a.rows, a.cols, a.need, a.out_start, a.extra_start, a.extra_ids,
                                             a.counts, a.ids, a.vals, a.extra_vals, stream_),
                   "select_candidates");
    return Status::Ok();
  }

  Status draw_rows(const float* d_x, const DrawArgs& a) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_draw_rows(d_x, a.rows, a.cols, a.params, a.change_start, a.change_meta, a.change_vals,
                                     a.tokens, a.sums, stream_),
                   "draw_rows");
    return Status::Ok();
  }

  Status advance_decode(const int32_t* d_argmax, int seqs, int32_t* d_ids, int32_t* d_positions,
                        int32_t* d_history) override {
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_decode_advance(d_argmax, seqs, d_ids, d_positions, d_history, stream_), "decode_advance");
    return Status::Ok();
  }

  Status synchronize() override {
    GN_RETURN_IF_ERROR(not_capturing("synchronize"));
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(drain(), "GPU step");
    return Status::Ok();
  }

  // --- CUDA graphs ---
  bool can_record() const override { return true; }

  Status capture_begin() override {
    if (capturing_) return InvalidArgument("capture_begin: a CUDA graph capture is already open on " + name());
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_capture_begin(stream_), "cudaStreamBeginCapture");
    capturing_ = true;
    return Status::Ok();
  }

  Status capture_end(std::unique_ptr<RecordedWork>* out) override {
    GN_CHECK_ARG(out != nullptr, "capture_end: null output");
    if (!capturing_) return InvalidArgument("capture_end: no CUDA graph capture is open on " + name());
    GN_RETURN_IF_ERROR(enter());
    void* exec = nullptr;
    const int st = gn_cuda_capture_end(stream_, &exec);
    capturing_ = false;
    std::vector<void*> deferred, deferred_host;
    deferred.swap(deferred_release_);
    deferred_host.swap(deferred_host_release_);
    for (void* p : deferred) release(p);
    for (void* p : deferred_host) release_host(p);
    GN_CUDA_STATUS(st, "CUDA graph capture");
    *out = std::make_unique<CudaGraphImpl>(this, exec);
    return Status::Ok();
  }

  // `work` must come from capture_end of a CUDA backend (the build has no RTTI to check the type;
  // the owner check catches a graph of another CUDA backend).
  Status replay(const RecordedWork& work) override {
    const auto& g = static_cast<const CudaGraphImpl&>(work);
    GN_CHECK_ARG(g.owner() == this, "replay: the CUDA graph was recorded on another backend");
    GN_RETURN_IF_ERROR(not_capturing("replay"));
    GN_RETURN_IF_ERROR(enter());
    GN_CUDA_STATUS(gn_cuda_graph_launch(g.exec(), stream_), "cudaGraphLaunch");
    return Status::Ok();
  }

 private:
  Status not_capturing(const char* what) const {
    if (!capturing_) return Status::Ok();
    return InvalidArgument(std::string(what) + " is not allowed while a CUDA graph capture is open on " + name() +
                           " (it would synchronize)");
  }

  // The current device is per host thread: set it on every entry (cheap).
  Status enter() {
    GN_CUDA_STATUS(gn_cuda_set_device(device_), "cudaSetDevice");
    return Status::Ok();
  }

  // Uploads count elements of src_dtype and converts them on the device to dst_dtype.
  Status upload_converted(const void* h_src, DType src_dtype, size_t count, DType dst_dtype, void** d_out) {
    GN_RETURN_IF_ERROR(not_capturing("weight preparation"));
    if (src_dtype == DType::kI8 || dst_dtype == DType::kI8)
      return Unsupported("int8 weights are supported on the CPU backend only");
    GN_RETURN_IF_ERROR(enter());
    void* d_dst = nullptr;
    GN_RETURN_IF_ERROR(alloc(count * dtype_size(dst_dtype), &d_dst));
    Status st;
    if (src_dtype == dst_dtype) {
      st = cuda_status(gn_cuda_upload(d_dst, h_src, count * dtype_size(src_dtype), stream_), "weight upload");
    } else {
      void* d_tmp = nullptr;
      st = alloc(count * dtype_size(src_dtype), &d_tmp);
      if (st.ok()) st = cuda_status(gn_cuda_upload(d_tmp, h_src, count * dtype_size(src_dtype), stream_), "weight upload");
      if (st.ok())
        st = cuda_status(gn_cuda_convert(d_tmp, (int)src_dtype, d_dst, (int)dst_dtype, count, stream_), "weight conversion");
      if (st.ok()) st = cuda_status(drain(), "weight conversion");
      gn_cuda_free(d_tmp);
    }
    if (!st.ok()) {
      gn_cuda_free(d_dst);
      return st;
    }
    *d_out = d_dst;
    return Status::Ok();
  }

  int rows_of(const void* table) const {
    auto it = table_rows_.find(table);
    return it == table_rows_.end() ? INT_MAX : it->second;
  }

  // Grows the split workspace to what this batch's plan needs (never during a capture). Laid out for
  // gn_cuda_decode_layer (its grid barrier first); the attention calls get the part past the barrier.
  Status ensure_attention_workspace(const gn_cuda_batch& b, int heads, int head_dim) {
    const size_t need = gn_cuda_decode_layer_workspace_bytes(&b, heads, head_dim);
    if (need <= workspace_bytes_) return Status::Ok();
    if (capturing_)
      return InvalidArgument("attention: the split workspace would grow during a CUDA graph capture; run the "
                             "same step shape once uncaptured before capturing it");
    GN_CUDA_STATUS(drain(), "attention workspace");
    // A recorded graph may still point at the old workspace: keep it until the backend goes.
    if (workspace_in_graph_) retired_.push_back(workspace_);
    else gn_cuda_free(workspace_);
    workspace_in_graph_ = false;
    workspace_ = nullptr;
    workspace_bytes_ = 0;
    GN_RETURN_IF_ERROR(alloc(need, &workspace_));
    workspace_bytes_ = need;
    // (gn_cuda_attention_append's counters and the layer's barrier start at zero; every launch leaves them so)
    return fill_zero(workspace_, need);
  }
  void* attention_workspace() const { return static_cast<char*>(workspace_) + GN_CUDA_DECODE_LAYER_BARRIER_BYTES; }
  size_t attention_workspace_bytes() const { return workspace_bytes_ - GN_CUDA_DECODE_LAYER_BARRIER_BYTES; }

  static gn_cuda_batch to_c(const DeviceBatch& b) {
    gn_cuda_batch c;
    c.tokens = b.tokens;
    c.num_seqs = b.num_seqs;
    c.d_positions = b.d_positions;
    c.d_seq_starts = b.d_seq_starts;
    c.d_block_tables = b.d_block_tables;
    c.max_blocks = b.max_blocks;
    c.block_size = b.block_size;
    c.max_context = b.max_context;
    return c;
  }

  // Waits for the stream; its work done, the staging block is free again.
  int drain() {
    const int st = gn_cuda_stream_synchronize(stream_);
    if (st == GN_CUDA_OK) stage_used_ = 0;
    return st;
  }
  // Frees an alloc_host() block (the stream drained by the caller).
  void free_host_block(void* h_ptr) {
    if (pageable_host_.erase(h_ptr) > 0)
      Backend::release_host(h_ptr);
    else
      gn_cuda_host_free(h_ptr);
  }

  int device_;
  void* stream_;
  std::string device_name_;
  std::vector<void*> owned_;                         // prepared vectors and tables
  std::unordered_map<const void*, int> table_rows_;  // rows of each prepared table (embed bounds)
  void* workspace_ = nullptr;                        // attention split scratch
  size_t workspace_bytes_ = 0;
  bool capturing_ = false;                           // a CUDA graph capture is open
  bool workspace_in_graph_ = false;                  // a recorded graph uses workspace_
  std::vector<void*> retired_;                       // workspaces that recorded graphs may use
  std::vector<void*> deferred_release_;              // release() calls made during the capture
  std::vector<void*> deferred_host_release_;         // release_host() calls made during the capture
  std::unordered_set<void*> pageable_host_;          // alloc_host() blocks that are not page-locked
  static constexpr size_t kStageMinBytes = 64 * 1024;
  void* stage_ = nullptr;                            // upload_staged()'s block (alloc_host), stage_bytes_
  size_t stage_bytes_ = 0;
  size_t stage_used_ = 0;                            // bytes of it that queued copies may still read
  // The rows the decode GEMV would take (m <= gemv_stream_rows_, x within 96 KiB) go to the
  // streaming GEMV instead (csrc/cuda/NOTES.md rounds 5 and 8).
  bool streams_gemv(int m, const PreparedLinear& w, const CudaLinear& cw, const float* d_x, int ldx) const {
    return m <= gemv_stream_rows_ && gn_cuda_gemv_stream_supported(m, w.n, w.k, (int)w.dtype, cw.data()) &&
           gn_cuda_gemm_select(m, w.n, w.k, (int)w.dtype, d_x, ldx, cw.data()) == GN_GEMM_GEMV;
  }
  // The wgmma kernel a GEMM of m rows by `w` runs on (x at d_x, row stride w.k) when GPTNEO_CUDA_X16=1
  // can hand it 16-bit activations, else -1.
  int x16_gemm(int m, const PreparedLinear& w, const float* d_x) const {
    if (!x16_activations_ || (w.dtype != DType::kBF16 && w.dtype != DType::kF16)) return -1;
    const int kernel = gn_cuda_gemm_select(m, w.n, w.k, (int)w.dtype, d_x, w.k, static_cast<const CudaLinear&>(w).data());
    return gn_cuda_gemm_is_wgmma(kernel) ? kernel : -1;
  }

  static bool env_is(const char* name, const char* value) {
    const char* v = std::getenv(name);
    return v != nullptr && std::strcmp(v, value) == 0;
  }
  static constexpr int kGemvStreamDefaultRows = 4;  // the rows the streaming GEMV takes by default
  static constexpr int kGemvStreamMaxRows = 8;      // every row count it serves (GPTNEO_CUDA_GEMV_STREAM=1)
  int gemv_stream_rows_ = 0;                        // decode rows at most this many stream (0: off)
  bool fused_kv_write_ = false;                      // GPTNEO_CUDA_FUSED_KV=1: kv_write inside decode attention
  bool fused_layernorm_ = false;                     // GPTNEO_CUDA_FUSED_LN=1: layernorm_linear fused
  bool x16_activations_ = false;                     // GPTNEO_CUDA_X16=1: 16-bit activations between wgmma GEMMs
  bool fused_decode_layer_ = false;                  // GPTNEO_CUDA_FUSED_LAYER=1: gn_cuda_decode_layer
};

}  // namespace

int cuda_device_count(std::string* why_none) {
  int n = 0;
  int st = query_device_count(&n);
  if (st != GN_CUDA_OK) {
    if (why_none) *why_none = no_device_reason(st);
    return 0;
  }
  if (n == 0 && why_none) *why_none = no_device_reason(kCudaErrorNoDevice);
  return n;
}

Status cuda_device_info(int index, CudaDeviceInfo* out) {
  GN_CHECK_ARG(out != nullptr, "cuda_device_info: null output");
  std::string why;
  const int n = cuda_device_count(&why);
  if (n == 0) return Unsupported(why);
  GN_CHECK_ARG(index >= 0 && index < n, "Expected a CUDA device index in [0, " + std::to_string(n) +
                                            ") but received " + std::to_string(index));
  gn_cuda_device_info info;
  GN_CUDA_STATUS(query_device_info(index, &info), "cudaGetDeviceProperties");
  out->index = index;
  out->name = info.name;
  out->total_memory = info.total_memory;
  out->major = info.major;
  out->minor = info.minor;
  out->multiprocessors = info.multiprocessors;
  const int cc = info.major * 10 + info.minor;
  out->usable = cc >= gn_cuda_min_capability();
  if (!out->usable) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "compute capability %d.%d < %d.%d (the CUDA kernels need Ampere or newer)",
                  info.major, info.minor, gn_cuda_min_capability() / 10, gn_cuda_min_capability() % 10);
    out->why_unusable = buf;
  }
  return Status::Ok();
}

Status create_cuda_backend(int index, std::unique_ptr<Backend>* out) {
  GN_CHECK_ARG(out != nullptr, "create_cuda_backend: null output");
  CudaDeviceInfo info;
  GN_RETURN_IF_ERROR(cuda_device_info(index, &info));
  if (!info.usable) return Unsupported("CUDA device " + std::to_string(index) + " (" + info.name + "): " + info.why_unusable);
  GN_CUDA_STATUS(gn_cuda_set_device(index), "cudaSetDevice");
  void* stream = nullptr;
  GN_CUDA_STATUS(gn_cuda_stream_create(&stream), "cudaStreamCreate");
  auto backend = std::make_unique<CudaBackend>(index, stream, info.name);
  // Probe: run one tiny kernel so a build without code for this GPU fails here, not mid-model.
  float* d_probe = nullptr;
  GN_RETURN_IF_ERROR(backend->alloc(2 * sizeof(float), reinterpret_cast<void**>(&d_probe)));
  int st = gn_cuda_convert(d_probe, GN_DTYPE_F32, d_probe + 1, GN_DTYPE_F32, 1, stream);
  if (st == GN_CUDA_OK) st = gn_cuda_stream_synchronize(stream);
  backend->release(d_probe);
  if (st != GN_CUDA_OK)
    return Unsupported("CUDA device " + std::to_string(index) + " (" + info.name +
                       ") cannot run this build's kernels: " + gn_cuda_status_string(st));
  *out = std::move(backend);
  return Status::Ok();
}

}  // namespace gptneo
