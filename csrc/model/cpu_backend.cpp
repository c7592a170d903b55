#include "model/cpu_backend.h"

#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include "core/host_memory.h"
#include "core/thread_pool.h"
#include "cpu/candidates.h"
#include "cpu/device_draw.h"
#include "cpu/ops.h"

namespace gptneo {
namespace {

class CpuLinear final : public PreparedLinear {
 public:
  cpu::PackedWeight packed;
};

cpu::Epilogue to_cpu(LinearEpilogue e) {
  switch (e) {
    case LinearEpilogue::kStore: return cpu::Epilogue::kStore;
    case LinearEpilogue::kGeluNew: return cpu::Epilogue::kGeluNew;
    case LinearEpilogue::kAccumulate: return cpu::Epilogue::kAccumulate;
  }
  return cpu::Epilogue::kStore;
}

cpu::PagedBatch to_paged(const DeviceBatch& b) {
  cpu::PagedBatch p;
  p.num_seqs = b.num_seqs;
  p.seq_starts = b.d_seq_starts;
  p.positions = b.d_positions;
  p.block_tables = b.d_block_tables;
  p.max_blocks = b.max_blocks;
  p.block_size = b.block_size;
  return p;
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, cpu::SimdLevel level) : pool_(threads), level_(level) {}
  ~CpuBackend() override {
    for (void* p : owned_) host_free(p);
  }

  std::string name() const override { return std::string("cpu/") + cpu::simd_name(level_); }
  BackendKind kind() const override { return BackendKind::kCpu; }
  ThreadPool* host_pool() override { return &pool_; }

  Status alloc(size_t bytes, void** d_ptr) override {
    void* p = host_alloc(bytes);
    if (p == nullptr) return OutOfMemory("cannot allocate " + std::to_string(bytes) + " bytes");
    *d_ptr = p;
    return Status::Ok();
  }
  void release(void* d_ptr) override { host_free(d_ptr); }
  Status upload(void* d_dst, const void* h_src, size_t bytes) override {
    if (bytes) std::memcpy(d_dst, h_src, bytes);
    return Status::Ok();
  }
  Status download(void* h_dst, const void* d_src, size_t bytes) override {
    if (bytes) std::memcpy(h_dst, d_src, bytes);
    return Status::Ok();
  }
  Status fill_zero(void* d_dst, size_t bytes) override {
    if (bytes) std::memset(d_dst, 0, bytes);
    return Status::Ok();
  }

  Status prepare_linear(const void* h_w, DType src_dtype, int n, int k, DType store_dtype,
                        std::unique_ptr<PreparedLinear>* out) override {
    auto lin = std::make_unique<CpuLinear>();
    GN_RETURN_IF_ERROR(cpu::pack_weight(h_w, src_dtype, n, k, store_dtype, &lin->packed, &pool_));
    lin->n = n;
    lin->k = k;
    lin->dtype = lin->packed.dtype;
    lin->bytes = lin->packed.bytes;
    *out = std::move(lin);
    return Status::Ok();
  }

  Status prepare_vector(const void* h_v, DType src_dtype, size_t count, float** d_out) override {
    void* p = nullptr;
    GN_RETURN_IF_ERROR(alloc(count * sizeof(float), &p));
    owned_.push_back(p);
    float* f = static_cast<float*>(p);
    for (size_t i = 0; i < count; ++i) f[i] = load_as_f32(h_v, src_dtype, i);
    *d_out = f;
    return Status::Ok();
  }

  Status prepare_table(const void* h_table, DType src_dtype, int rows, int cols, DType store_dtype,
                       const void** d_out, DType* dtype_out) override {
    GN_CHECK_ARG(store_dtype != DType::kI8 && src_dtype != DType::kI8,
                 "prepare_table: embedding tables are not quantized to int8");
    if (store_dtype == src_dtype) {  // used in place from the mapped file
      *d_out = h_table;
      *dtype_out = src_dtype;
      return Status::Ok();
    }
    size_t count = static_cast<size_t>(rows) * cols;
    void* p = nullptr;
    GN_RETURN_IF_ERROR(alloc(count * dtype_size(store_dtype), &p));
    owned_.push_back(p);
    pool_.parallel_for(static_cast<int64_t>(count), 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        float v = load_as_f32(h_table, src_dtype, static_cast<size_t>(i));
        switch (store_dtype) {
          case DType::kF32: static_cast<float*>(p)[i] = v; break;
          case DType::kF16: static_cast<uint16_t*>(p)[i] = f32_to_f16(v); break;
          case DType::kBF16: static_cast<uint16_t*>(p)[i] = f32_to_bf16(v); break;
          case DType::kI8: break;  // rejected above
        }
      }
    });
    *d_out = p;
    *dtype_out = store_dtype;
    return Status::Ok();
  }

  Status embed(const DeviceBatch& batch, const void* d_wte, DType wte_dtype, const void* d_wpe,
               DType wpe_dtype, int dim, float* d_out) override {
    cpu::embed(batch.d_token_ids, batch.d_positions, batch.tokens, d_wte, wte_dtype, d_wpe,
               wpe_dtype, dim, d_out, pool_);
    return Status::Ok();
  }

  Status layernorm(const float* d_x, int rows, int dim, int ldx, const float* d_gamma,
                   const float* d_beta, float eps, float* d_y, int ldy) override {
    cpu::layernorm(d_x, rows, dim, ldx, d_gamma, d_beta, eps, d_y, ldy, pool_, level_);
    return Status::Ok();
  }

  Status linear(const float* d_x, int m, int ldx, const PreparedLinear& w, const float* d_bias,
                float* d_y, int ldy, LinearEpilogue epilogue) override {
    const auto& lin = static_cast<const CpuLinear&>(w);
    cpu::gemm(d_x, m, ldx, lin.packed, d_bias, d_y, ldy, to_cpu(epilogue), pool_, level_);
    return Status::Ok();
  }

  Status kv_write(const float* d_k, const float* d_v, int ldkv, const DeviceBatch& batch,
                  int heads, int head_dim, const KvCache& cache) override {
    if (cache.dtype != DType::kF32) return Unsupported("the CPU backend keeps the KV cache in float32");
    cpu::kv_write(d_k, d_v, ldkv, to_paged(batch), heads, head_dim, static_cast<float*>(cache.k),
                  static_cast<float*>(cache.v), pool_);
    return Status::Ok();
  }

  Status attention(const float* d_q, int ldq, const KvCache& cache, const DeviceBatch& batch, int heads,
                   int head_dim, int window, float scale, DType /*operands: fp32 here whatever the caller accepts*/,
                   float* d_out, int ldo) override {
    if (cache.dtype != DType::kF32) return Unsupported("the CPU backend keeps the KV cache in float32");
    cpu::attention_paged(d_q, ldq, static_cast<const float*>(cache.k), static_cast<const float*>(cache.v),
                         to_paged(batch), heads, head_dim, window,
                         scale, d_out, ldo, pool_, level_);
    return Status::Ok();
  }

  Status gather_rows(const float* d_src, int ld_src, const int32_t* d_rows, int count, int dim,
                     float* d_dst) override {
    for (int i = 0; i < count; ++i)
      std::memcpy(d_dst + static_cast<size_t>(i) * dim,
                  d_src + static_cast<size_t>(d_rows[i]) * ld_src, sizeof(float) * dim);
    return Status::Ok();
  }

  Status segment_mean(const float* d_x, int ldx, const DeviceBatch& batch, int dim,
                      float* d_out) override {
    pool_.parallel_for(batch.num_seqs, 1, [&](int64_t b, int64_t e) {
      for (int64_t s = b; s < e; ++s) {
        const int r0 = batch.d_seq_starts[s], r1 = batch.d_seq_starts[s + 1];
        float* out = d_out + static_cast<size_t>(s) * dim;
        for (int c = 0; c < dim; ++c) out[c] = 0.f;
        for (int r = r0; r < r1; ++r) {
          const float* row = d_x + static_cast<size_t>(r) * ldx;
          for (int c = 0; c < dim; ++c) out[c] += row[c];
        }
        const float inv = r1 > r0 ? 1.f / static_cast<float>(r1 - r0) : 0.f;
        for (int c = 0; c < dim; ++c) out[c] *= inv;
      }
    });
    return Status::Ok();
  }

  Status advance_decode(const int32_t* d_argmax, int seqs, int32_t* d_ids, int32_t* d_positions,
                        int32_t* d_history) override {
    for (int s = 0; s < seqs; ++s) {
      d_history[s] = d_argmax[s];
      d_ids[s] = d_argmax[s];
      d_positions[s] += 1;
    }
    return Status::Ok();
  }

  Status select_candidates(const float* d_x, const CandidateArgs& a) override {
    pool_.parallel_for(a.rows, 1, [&](int64_t b, int64_t e) {
      std::vector<uint32_t> keys;
      for (int64_t r = b; r < e; ++r) {
        const float* row = d_x + static_cast<size_t>(r) * a.cols;
        for (int i = a.extra_start[r]; i < a.extra_start[r + 1]; ++i) a.extra_vals[i] = row[a.extra_ids[i]];
        const int first = a.out_start[r];
        a.counts[r] = cpu::select_candidates_row(row, a.cols, a.need[r], a.out_start[r + 1] - first, a.ids + first,
                                                 a.vals + first, &keys);
      }
    });
    return Status::Ok();
  }

  Status draw_rows(const float* d_x, const DrawArgs& a) override {
    pool_.parallel_for(a.rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const int first = a.change_start[r];
        a.tokens[r] = cpu::draw_row(d_x + static_cast<size_t>(r) * a.cols, a.cols,
                                    a.params + static_cast<size_t>(r) * kDrawParams, a.change_meta + 2 * first,
                                    a.change_vals + 2 * first, a.change_start[r + 1] - first, a.sums + r);
      }
    });
    return Status::Ok();
  }

  Status argmax_rows(const float* d_x, int rows, int cols, int32_t* d_out) override {
    pool_.parallel_for(rows, 1, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const float* row = d_x + static_cast<size_t>(r) * cols;
        int best = 0;
        float best_v = -std::numeric_limits<float>::infinity();
        for (int c = 0; c < cols; ++c) {
          if (row[c] > best_v) {  // strict: ties keep the lowest index; NaN never wins
            best_v = row[c];
            best = c;
          }
        }
        d_out[r] = best;
      }
    });
    return Status::Ok();
  }

  Status synchronize() override { return Status::Ok(); }

 private:
  ThreadPool pool_;
  cpu::SimdLevel level_;
  std::vector<void*> owned_;
};

}  // namespace

std::unique_ptr<Backend> create_cpu_backend(int threads, cpu::SimdLevel level) {
  return std::make_unique<CpuBackend>(threads, level);
}

}  // namespace gptneo
