// GptNeoModel::step: one forward pass over a packed batch (prefill chunks and decode tokens
// of several sequences together), writing K/V into the paged pool and returning the
// requested rows' logits, hidden states or argmax ids.
#include "model/gpt_neo.h"

#include <algorithm>

namespace gptneo {

GptNeoModel::GptNeoModel(ModelConfig config, std::unique_ptr<Backend> backend)
    : config_(std::move(config)), backend_(std::move(backend)) {}

GptNeoModel::~GptNeoModel() {
  // Prepared weights and vectors are owned by the backend; scratch and KV are ours.
  if (backend_) {
    drop_graphs();
    for (void* p : allocations_) backend_->release(p);
    for (float* p : {h_, x_, qkv_, attn_, mlp_, rows_, logits_}) if (p) backend_->release(p);
    if (meta_) backend_->release(meta_);
    if (history_) backend_->release(history_);
    queries_.release(*backend_);
    if (host_rows_) backend_->release_host(host_rows_);
    layers_.clear();
    lm_head_.reset();
    backend_.reset();
  }
}

Status GptNeoModel::validate_step(const StepInput& in, bool chosen) const {
  if (!loaded_) return InvalidArgument("model weights are not loaded");
  const int T = static_cast<int>(in.token_ids.size());
  GN_CHECK_ARG(T > 0, "a step needs at least one token");
  GN_CHECK_ARG(in.positions.size() == in.token_ids.size(), "positions must have one entry per token");
  GN_CHECK_ARG(in.seq_starts.size() >= 2, "seq_starts must have num_seqs + 1 entries");
  const int S = static_cast<int>(in.seq_starts.size()) - 1;
  GN_CHECK_ARG(in.max_blocks > 0, "max_blocks must be positive");
  GN_CHECK_ARG(in.block_tables.size() == static_cast<size_t>(S) * in.max_blocks,
               "block_tables must be [num_seqs, max_blocks]");
  GN_CHECK_ARG(in.seq_starts[0] == 0 && in.seq_starts[S] == T, "seq_starts must run from 0 to the token count");
  GN_CHECK_ARG(in.steps >= 1 && in.steps <= kMaxRunAheadSteps,
               "steps must be in [1, " + std::to_string(kMaxRunAheadSteps) + "]");
  if (chosen)
    GN_CHECK_ARG(in.output == OutputKind::kLogits || in.output == OutputKind::kBackendLogits,
                 "a chosen-token run needs logits output");
  if (in.steps > 1) {
    if (!chosen) GN_CHECK_ARG(in.output == OutputKind::kArgmax, "steps > 1 (run-ahead) needs output 'argmax' or 'sample'");
    GN_CHECK_ARG(T == S, "steps > 1 (run-ahead) needs exactly one token per sequence");
    GN_CHECK_ARG(static_cast<int>(in.output_rows.size()) == S,
                 "steps > 1 (run-ahead) needs one output row per sequence");
    for (int i = 0; i < S; ++i)
      GN_CHECK_ARG(in.output_rows[i] == i, "steps > 1 (run-ahead) needs output rows 0..num_seqs-1 in order");
  }
  // Positions the step reaches past each sequence's last given token.
  const int ahead = in.steps - 1;
  if (options_.local_kv_blocks > 0) {
    GN_CHECK_ARG(in.local_block_tables.size() == in.block_tables.size(),
                 "local_block_tables must be [num_seqs, max_blocks] when the model has a local KV pool");
  } else {
    GN_CHECK_ARG(in.local_block_tables.empty(), "local_block_tables given but the model has no local KV pool");
  }
  for (int i = 0; i < T; ++i) {
    int id = in.token_ids[i];
    if (id < 0 || id >= config_.vocab_size)
      return InvalidArgument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                             std::to_string(config_.vocab_size) + ")");
    int pos = in.positions[i];
    if (pos < 0 || pos >= config_.max_positions)
      return InvalidArgument("position " + std::to_string(pos) + " is outside [0, " +
                             std::to_string(config_.max_positions) + ")");
  }
  for (int s = 0; s < S; ++s) {
    const int b = in.seq_starts[s], e = in.seq_starts[s + 1];
    GN_CHECK_ARG(b < e, "every sequence in a step needs at least one token");
    // Positions of one sequence's new tokens are consecutive: the cache holds 0..first-1.
    for (int i = b + 1; i < e; ++i)
      GN_CHECK_ARG(in.positions[i] == in.positions[i - 1] + 1, "positions within a sequence must be consecutive");
    const int last = in.positions[e - 1] + ahead;
    if (last >= config_.max_positions)
      return InvalidArgument("run-ahead to position " + std::to_string(last) + " is outside [0, " +
                             std::to_string(config_.max_positions) + ")");
    GN_CHECK_ARG(last / options_.block_size < in.max_blocks, "a sequence's block table is too short for its positions");
    for (int blk = 0; blk <= last / options_.block_size; ++blk) {
      int id = in.block_tables[static_cast<size_t>(s) * in.max_blocks + blk];
      if (id < 0 || id >= options_.kv_blocks)
        return InvalidArgument("block id " + std::to_string(id) + " is outside the KV pool");
    }
    if (options_.local_kv_blocks > 0) {
      // Local layers read keys from first - window + 1 on: those blocks must be present.
      const int lo = std::max(0, in.positions[b] - config_.window + 1) / options_.block_size;
      for (int blk = lo; blk <= last / options_.block_size; ++blk) {
        int id = in.local_block_tables[static_cast<size_t>(s) * in.max_blocks + blk];
        if (id < 0 || id >= options_.local_kv_blocks)
          return InvalidArgument("local block id " + std::to_string(id) + " is outside the local KV pool");
      }
    }
  }
  for (int r : in.output_rows) GN_CHECK_ARG(r >= 0 && r < T, "output row outside the step's tokens");
  if (in.output != OutputKind::kNone && in.output != OutputKind::kMeanPooled)
    GN_CHECK_ARG(!in.output_rows.empty(), "no output rows requested");
  return Status::Ok();
}

Status GptNeoModel::ensure_scratch(int tokens, int out_rows) {
  Backend& be = *backend_;
  const size_t H = config_.hidden, I = config_.intermediate, V = config_.vocab_size;
  // Recordings point at the old buffers: drop them before anything is freed.
  if (tokens > scratch_tokens_ || out_rows > scratch_rows_) drop_graphs();
  auto grow = [&](float** p, size_t count) -> Status {
    if (*p) be.release(*p);
    *p = nullptr;
    void* mem = nullptr;
    GN_RETURN_IF_ERROR(be.alloc(count * sizeof(float), &mem));
    *p = static_cast<float*>(mem);
    return Status::Ok();
  };
  if (tokens > scratch_tokens_) {
    int t = std::max(tokens, 16);
    GN_RETURN_IF_ERROR(grow(&h_, t * H));
    GN_RETURN_IF_ERROR(grow(&x_, t * H));
    GN_RETURN_IF_ERROR(grow(&qkv_, t * 3 * H));
    GN_RETURN_IF_ERROR(grow(&attn_, t * H));
    GN_RETURN_IF_ERROR(grow(&mlp_, t * I));
    scratch_tokens_ = t;
  }
  if (out_rows > scratch_rows_) {
    int r = std::max(out_rows, 8);
    GN_RETURN_IF_ERROR(grow(&rows_, r * H));
    GN_RETURN_IF_ERROR(grow(&logits_, r * V));
    scratch_rows_ = r;
  }
  return Status::Ok();
}

Status GptNeoModel::upload_batch(const StepInput& in, DeviceBatch* batch, DeviceBatch* local_batch) {
  const int T = static_cast<int>(in.token_ids.size());
  const int S = static_cast<int>(in.seq_starts.size()) - 1;
  const int R = static_cast<int>(in.output_rows.size());
  // Layout of meta_: ids[T] positions[T] starts[S+1] tables[S*max_blocks] rows[R] argmax[R]
  //                  local tables[S*max_blocks] (when present). Staged on the host and sent in one
  //                  copy: one transfer per step instead of one per array.
  const size_t tables = in.block_tables.size();
  const size_t need = 2 * static_cast<size_t>(T) + (S + 1) + tables + 2 * static_cast<size_t>(R) +
                      in.local_block_tables.size();
  if (need > static_cast<size_t>(scratch_meta_)) {
    if (meta_) backend_->release(meta_);
    meta_ = nullptr;
    void* mem = nullptr;
    GN_RETURN_IF_ERROR(backend_->alloc(need * sizeof(int32_t) * 2, &mem));
    meta_ = static_cast<int32_t*>(mem);
    scratch_meta_ = static_cast<int>(need * 2);
  }
  staging_.resize(need);
  size_t at = 0;
  auto put = [&](const std::vector<int32_t>& v) -> int32_t* {
    std::copy(v.begin(), v.end(), staging_.begin() + static_cast<std::ptrdiff_t>(at));
    int32_t* device = meta_ + at;
    at += v.size();
    return device;
  };
  batch->tokens = T;
  batch->num_seqs = S;
  batch->d_token_ids = put(in.token_ids);
  batch->d_positions = put(in.positions);
  batch->d_seq_starts = put(in.seq_starts);
  batch->d_block_tables = put(in.block_tables);
  put(in.output_rows);
  at += R;  // argmax output
  batch->max_blocks = in.max_blocks;
  batch->block_size = options_.block_size;
  int max_ctx = 0;
  for (int s = 0; s < S; ++s) max_ctx = std::max(max_ctx, in.positions[in.seq_starts[s + 1] - 1] + 1);
  batch->max_context = max_ctx;
  *local_batch = *batch;
  if (!in.local_block_tables.empty()) local_batch->d_block_tables = put(in.local_block_tables);
  return backend_->upload_staged(meta_, staging_.data(), need * sizeof(int32_t));
}

Status GptNeoModel::forward_layers(const DeviceBatch& batch, const DeviceBatch& local_batch) {
  Backend& be = *backend_;
  const int T = batch.tokens, H = config_.hidden;
  const float eps = config_.layer_norm_eps;
  // A bf16/f16 model's q, k, v come out of projections that already round their inputs to that type;
  // its attention may round them too (the CUDA prefill then runs on tensor cores).
  const DType w = options_.weight_dtype;
  const DType attention_operands = w == DType::kBF16 || w == DType::kF16 ? w : DType::kF32;
  GN_RETURN_IF_ERROR(be.embed(batch, wte_, wte_dtype_, wpe_, wpe_dtype_, H, h_));
  LayerStep s;
  s.d_h = h_;
  s.tokens = T;
  s.hidden = H;
  s.eps = eps;
  s.heads = config_.heads;
  s.head_dim = config_.head_dim();
  s.scale = 1.0f;  // GPT-Neo does not scale q·k by 1/sqrt(head_dim)
  s.attention_operands = attention_operands;
  s.d_qkv = qkv_;
  s.d_attn = attn_;
  s.d_norm = x_;
  s.d_mid = mlp_;
  for (int l = 0; l < config_.layers; ++l) {
    const LayerWeights& L = layers_[l];
    s.ln1_g = L.ln1_g;
    s.ln1_b = L.ln1_b;
    s.ln2_g = L.ln2_g;
    s.ln2_b = L.ln2_b;
    s.qkv = L.qkv.get();
    s.out_proj = L.out_proj.get();
    s.c_fc = L.c_fc.get();
    s.c_proj = L.c_proj.get();
    s.out_proj_b = L.out_proj_b;
    s.c_fc_b = L.c_fc_b;
    s.c_proj_b = L.c_proj_b;
    s.kv = &L.kv;
    // Local layers address their own pool (if any) through the local tables.
    const bool local = config_.layer_is_local[l];
    s.batch = local ? &local_batch : &batch;
    s.window = local ? config_.window : 0;
    GN_RETURN_IF_ERROR(be.layer(s));
  }
  return Status::Ok();
}

Status GptNeoModel::step(const StepInput& in, StepOutput* out) {
  GN_RETURN_IF_ERROR(validate_step(in));
  if (in.steps > 1 && !graph_step_eligible(in)) return step_run_ahead(in, nullptr, out);
  return step_single(in, out);
}

Status GptNeoModel::step_chosen(const StepInput& in, const TokenChooser& choose, StepOutput* out) {
  GN_RETURN_IF_ERROR(validate_step(in, true));
  return step_run_ahead(in, &choose, out);
}

Status GptNeoModel::step_single(const StepInput& in, StepOutput* out) {
  backend_logits_rows_ = 0;  // every forward pass goes through here: the previous step's logits are gone
  const Status st = graph_step_eligible(in) ? step_decode_graph(in, out) : step_packed(in, out);
  if (st.ok() && in.output == OutputKind::kBackendLogits) backend_logits_rows_ = out->rows;
  return st;
}

Status GptNeoModel::step_run_ahead(const StepInput& in, const TokenChooser* choose, StepOutput* out) {
  const int S = static_cast<int>(in.token_ids.size());
  StepInput one = in;
  one.steps = 1;
  one.output = choose ? in.output : OutputKind::kArgmax;  // a chooser's: kLogits or kBackendLogits
  StepOutput& single = run_ahead_step_;
  out->rows = S;
  out->cols = 0;
  out->ids.assign(static_cast<size_t>(in.steps) * S, 0);
  for (int j = 0; j < in.steps; ++j) {
    GN_RETURN_IF_ERROR(step_single(one, &single));
    int32_t* ids = out->ids.data() + static_cast<size_t>(j) * S;  // this step's row of the result
    if (choose) {
      const bool on_host = one.output == OutputKind::kLogits;
      if (on_host && single.count != static_cast<size_t>(S) * config_.vocab_size)
        return Internal("a run-ahead step returned no logits");
      GN_RETURN_IF_ERROR((*choose)(j, on_host ? single.values.get() : nullptr, ids));
    } else {
      std::copy(single.ids.begin(), single.ids.end(), ids);
    }
    for (int s = 0; s < S; ++s) {
      if (ids[s] >= config_.vocab_size) return Internal("a token chooser returned an id outside the vocabulary");
      one.token_ids[s] = ids[s] < 0 ? 0 : ids[s];  // a row with no usable token goes on with a harmless one
    }
    for (int32_t& p : one.positions) ++p;
  }
  return Status::Ok();
}

Status GptNeoModel::ensure_history(int count) {
  if (count <= history_capacity_) return Status::Ok();
  if (history_) backend_->release(history_);
  history_ = nullptr;
  history_capacity_ = 0;
  void* mem = nullptr;
  GN_RETURN_IF_ERROR(backend_->alloc(static_cast<size_t>(count) * sizeof(int32_t), &mem));
  history_ = static_cast<int32_t*>(mem);
  history_capacity_ = count;
  return Status::Ok();
}

Status GptNeoModel::step_packed(const StepInput& in, StepOutput* out) {
  const int T = static_cast<int>(in.token_ids.size());
  const int R = static_cast<int>(in.output_rows.size());
  const int H = config_.hidden, V = config_.vocab_size;
  const int S = static_cast<int>(in.seq_starts.size()) - 1;
  GN_RETURN_IF_ERROR(ensure_scratch(T, std::max(R, S)));
  DeviceBatch batch, local_batch;
  GN_RETURN_IF_ERROR(upload_batch(in, &batch, &local_batch));
  GN_RETURN_IF_ERROR(forward_layers(batch, local_batch));

  out->rows = R;
  out->cols = 0;
  if (in.output == OutputKind::kNone) return backend_->synchronize();
  if (in.output == OutputKind::kMeanPooled) {
    // ln_f over every row (x_ is free once the layers are done), then one mean per sequence.
    GN_RETURN_IF_ERROR(backend_->layernorm(h_, T, H, H, lnf_g_, lnf_b_, config_.layer_norm_eps, x_, H));
    GN_RETURN_IF_ERROR(backend_->segment_mean(x_, H, batch, H, rows_));
    out->rows = S;
    out->cols = H;
    float* dst = out->allocate(static_cast<size_t>(S) * H);
    GN_RETURN_IF_ERROR(backend_->synchronize());
    return backend_->download(dst, rows_, out->count * sizeof(float));
  }

  // Output rows were uploaded with the batch, right after the block tables (upload_batch).
  int32_t* d_rows = meta_ + 2 * T + (batch.num_seqs + 1) + batch.num_seqs * in.max_blocks;
  int32_t* d_argmax = d_rows + R;
  GN_RETURN_IF_ERROR(backend_->gather_rows(h_, H, d_rows, R, H, rows_));
  GN_RETURN_IF_ERROR(backend_->layernorm(rows_, R, H, H, lnf_g_, lnf_b_, config_.layer_norm_eps, rows_, H));
  if (in.output == OutputKind::kHidden) {
    out->cols = H;
    float* dst = out->allocate(static_cast<size_t>(R) * H);
    GN_RETURN_IF_ERROR(backend_->synchronize());
    return backend_->download(dst, rows_, out->count * sizeof(float));
  }
  if (in.output == OutputKind::kBackendLogits) {  // left in logits_ for the step's sampler
    out->cols = V;
    out->count = 0;
    return backend_->linear(rows_, R, H, *lm_head_, nullptr, logits_, V, LinearEpilogue::kStore);
  }
  if (in.output == OutputKind::kLogits && backend_->kind() == BackendKind::kCpu) {
    // Host memory: the lm_head writes straight into the result (for 512 rows that is 103 MB
    // not copied again).
    out->cols = V;
    float* dst = out->allocate(static_cast<size_t>(R) * V);
    return backend_->linear(rows_, R, H, *lm_head_, nullptr, dst, V, LinearEpilogue::kStore);
  }
  GN_RETURN_IF_ERROR(backend_->linear(rows_, R, H, *lm_head_, nullptr, logits_, V, LinearEpilogue::kStore));
  if (in.output == OutputKind::kArgmax) {
    GN_RETURN_IF_ERROR(backend_->argmax_rows(logits_, R, V, d_argmax));
    out->ids.resize(R);
    GN_RETURN_IF_ERROR(backend_->synchronize());
    return backend_->download(out->ids.data(), d_argmax, R * sizeof(int32_t));
  }
  out->cols = V;
  float* dst = out->allocate(static_cast<size_t>(R) * V);
  GN_RETURN_IF_ERROR(backend_->synchronize());
  return backend_->download(dst, logits_, out->count * sizeof(float));
}

}  // namespace gptneo
