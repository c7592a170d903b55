// GptNeoModel::load: maps the safetensors file, re-checks every tensor the TypeScript loader
// validated (cheaply: names, dtypes, shapes, bounds), and prepares the weights on the backend.
#include <cstring>
#include <unordered_map>

#include "model/gpt_neo.h"

namespace gptneo {

bool parse_dtype(const std::string& s, DType* out) {
  if (s == "F32") { *out = DType::kF32; return true; }
  if (s == "F16") { *out = DType::kF16; return true; }
  if (s == "BF16") { *out = DType::kBF16; return true; }
  return false;
}

bool parse_weight_dtype(const std::string& s, DType* out) {
  if (s == "I8") { *out = DType::kI8; return true; }
  return parse_dtype(s, out);
}

namespace {

struct TensorView {
  const uint8_t* data = nullptr;
  DType dtype = DType::kF32;
};

class TensorLookup {
 public:
  TensorLookup(const MappedFile& file, const std::vector<TensorEntry>& tensors) : file_(file) {
    for (const auto& t : tensors) by_name_[t.name] = &t;
  }
  bool has(const std::string& name) const { return by_name_.count(name) != 0; }

  // Finds `name`, checks its shape is exactly `shape` and that its bytes lie inside the file.
  Status get(const std::string& name, std::initializer_list<int64_t> shape, TensorView* out) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return BadCheckpoint("missing tensor " + name);
    const TensorEntry& t = *it->second;
    std::vector<int64_t> want(shape);
    if (t.shape != want) return BadCheckpoint("tensor " + name + " has the wrong shape for the config");
    uint64_t count = 1;
    for (int64_t d : want) count *= static_cast<uint64_t>(d);
    if (t.nbytes != count * dtype_size(t.dtype))
      return BadCheckpoint("tensor " + name + ": byte length does not match its shape and dtype");
    if (t.offset > file_.size() || t.nbytes > file_.size() - t.offset)
      return BadCheckpoint("tensor " + name + " lies outside " + file_.path());
    out->data = file_.data() + t.offset;
    out->dtype = t.dtype;
    return Status::Ok();
  }

 private:
  const MappedFile& file_;
  std::unordered_map<std::string, const TensorEntry*> by_name_;
};

}  // namespace

Status GptNeoModel::load(const std::string& path, const std::vector<TensorEntry>& tensors,
                         const LoadOptions& options) {
  if (loaded_) return InvalidArgument("model is already loaded");
  GN_RETURN_IF_ERROR(config_.validate());
  GN_CHECK_ARG(options.kv_blocks > 0, "kv_blocks must be positive");
  GN_CHECK_ARG(options.block_size > 0 && options.block_size <= 1024, "block_size must be in [1, 1024]");
  GN_CHECK_ARG(options.local_kv_blocks >= 0, "local_kv_blocks must not be negative");
  if (!backend_->supports_kv_dtype(options.kv_dtype))
    return Unsupported(std::string("a ") + dtype_name(options.kv_dtype) + " KV cache is not supported on " +
                       backend_->name() + " (it keeps float32" +
                       (backend_->kind() == BackendKind::kCpu ? ")" : ", bfloat16 or float16)"));
  options_ = options;

  file_ = std::make_unique<MappedFile>();
  GN_RETURN_IF_ERROR(file_->open(path));
  TensorLookup lookup(*file_, tensors);
  Backend& be = *backend_;
  const int64_t V = config_.vocab_size, P = config_.max_positions, H = config_.hidden,
                I = config_.intermediate;
  const DType store = options.weight_dtype;
  if (store == DType::kI8 && be.kind() != BackendKind::kCpu)
    return Unsupported("int8 weights are supported on the CPU backend only (this model runs on " + be.name() + ")");

  TensorView wte, wpe;
  GN_RETURN_IF_ERROR(lookup.get("wte.weight", {V, H}, &wte));
  GN_RETURN_IF_ERROR(lookup.get("wpe.weight", {P, H}, &wpe));
  // int8 quantizes the GEMM weights only: the lookup tables stay as stored (in place on the CPU).
  const DType wte_store = store == DType::kI8 ? wte.dtype : store;
  const DType wpe_store = store == DType::kI8 ? wpe.dtype : store;
  GN_RETURN_IF_ERROR(be.prepare_table(wte.data, wte.dtype, V, H, wte_store, &wte_, &wte_dtype_));
  GN_RETURN_IF_ERROR(be.prepare_table(wpe.data, wpe.dtype, P, H, wpe_store, &wpe_, &wpe_dtype_));

  auto vec = [&](const std::string& name, int64_t n, float** out) -> Status {
    TensorView t;
    GN_RETURN_IF_ERROR(lookup.get(name, {n}, &t));
    return be.prepare_vector(t.data, t.dtype, static_cast<size_t>(n), out);
  };
  auto linear = [&](const std::string& name, int64_t n, int64_t k,
                    std::unique_ptr<PreparedLinear>* out) -> Status {
    TensorView t;
    GN_RETURN_IF_ERROR(lookup.get(name, {n, k}, &t));
    GN_RETURN_IF_ERROR(be.prepare_linear(t.data, t.dtype, static_cast<int>(n), static_cast<int>(k), store, out));
    weight_bytes_ += (*out)->bytes;
    return Status::Ok();
  };

  layers_.clear();
  layers_.resize(config_.layers);
  std::vector<uint8_t> qkv_host;
  for (int l = 0; l < config_.layers; ++l) {
    const std::string p = "h." + std::to_string(l) + ".";
    LayerWeights& L = layers_[l];
    GN_RETURN_IF_ERROR(vec(p + "ln_1.weight", H, &L.ln1_g));
    GN_RETURN_IF_ERROR(vec(p + "ln_1.bias", H, &L.ln1_b));
    GN_RETURN_IF_ERROR(vec(p + "ln_2.weight", H, &L.ln2_g));
    GN_RETURN_IF_ERROR(vec(p + "ln_2.bias", H, &L.ln2_b));

    // q, k, v fused into one [3H, H] weight so one GEMM produces all three.
    TensorView q, k, v;
    GN_RETURN_IF_ERROR(lookup.get(p + "attn.attention.q_proj.weight", {H, H}, &q));
    GN_RETURN_IF_ERROR(lookup.get(p + "attn.attention.k_proj.weight", {H, H}, &k));
    GN_RETURN_IF_ERROR(lookup.get(p + "attn.attention.v_proj.weight", {H, H}, &v));
    if (q.dtype != k.dtype || q.dtype != v.dtype)
      return BadCheckpoint("layer " + std::to_string(l) + ": q/k/v projections have different dtypes");
    const size_t part = static_cast<size_t>(H * H) * dtype_size(q.dtype);
    qkv_host.resize(3 * part);
    std::memcpy(qkv_host.data(), q.data, part);
    std::memcpy(qkv_host.data() + part, k.data, part);
    std::memcpy(qkv_host.data() + 2 * part, v.data, part);
    GN_RETURN_IF_ERROR(be.prepare_linear(qkv_host.data(), q.dtype, static_cast<int>(3 * H),
                                         static_cast<int>(H), store, &L.qkv));
    weight_bytes_ += L.qkv->bytes;

    GN_RETURN_IF_ERROR(linear(p + "attn.attention.out_proj.weight", H, H, &L.out_proj));
    GN_RETURN_IF_ERROR(vec(p + "attn.attention.out_proj.bias", H, &L.out_proj_b));
    GN_RETURN_IF_ERROR(linear(p + "mlp.c_fc.weight", I, H, &L.c_fc));
    GN_RETURN_IF_ERROR(vec(p + "mlp.c_fc.bias", I, &L.c_fc_b));
    GN_RETURN_IF_ERROR(linear(p + "mlp.c_proj.weight", H, I, &L.c_proj));
    GN_RETURN_IF_ERROR(vec(p + "mlp.c_proj.bias", H, &L.c_proj_b));
  }
  std::vector<uint8_t>().swap(qkv_host);
  GN_RETURN_IF_ERROR(vec("ln_f.weight", H, &lnf_g_));
  GN_RETURN_IF_ERROR(vec("ln_f.bias", H, &lnf_b_));
  GN_RETURN_IF_ERROR(linear(lookup.has("lm_head.weight") ? "lm_head.weight" : "wte.weight", V, H, &lm_head_));

  // The paged KV pools: per layer K and V of [blocks, block_size, heads, head_dim] kv_dtype;
  // local-attention layers use the smaller local pool when there is one. With recorded decode
  // steps each pool has one spare block past the ones steps address, for padding rows.
  graphs_on_ = options.graphs && be.can_record();
  const int spare = graphs_on_ ? 1 : 0;
  spare_block_ = graphs_on_ ? options.kv_blocks : -1;
  spare_local_block_ = graphs_on_ && options.local_kv_blocks > 0 ? options.local_kv_blocks : -1;
  kv_bytes_ = 0;
  for (int l = 0; l < config_.layers; ++l) {
    LayerWeights& L = layers_[l];
    const bool local_pool = options.local_kv_blocks > 0 && config_.layer_is_local[l];
    const int blocks = (local_pool ? options.local_kv_blocks : options.kv_blocks) + spare;
    const size_t per_cache = static_cast<size_t>(blocks) * options.block_size * H * dtype_size(options.kv_dtype);
    void* k_mem = nullptr;
    void* v_mem = nullptr;
    GN_RETURN_IF_ERROR(be.alloc(per_cache, &k_mem));
    allocations_.push_back(k_mem);
    GN_RETURN_IF_ERROR(be.alloc(per_cache, &v_mem));
    allocations_.push_back(v_mem);
    L.kv = KvCache{k_mem, v_mem, options.kv_dtype};
    kv_bytes_ += 2 * per_cache;
  }
  loaded_ = true;
  return Status::Ok();
}

}  // namespace gptneo
