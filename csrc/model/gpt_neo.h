// GptNeoModel: GPT-Neo's forward pass over a Backend, on a packed batch of variable-length
// sequences whose keys/values live in a paged KV pool owned by the model.
//
//   h = wte[ids] + wpe[pos]
//   per layer: h += out_proj(attn(ln_1(h)));  h += c_proj(gelu_new(c_fc(ln_2(h))))
//   out = ln_f(h[rows]);  logits = out · wteᵀ (or lm_head)
//
// One step() at a time per model; the caller (the N-API layer) serialises them.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/host_memory.h"
#include "core/mapped_file.h"
#include "core/status.h"
#include "cpu/device_draw.h"
#include "model/backend.h"
#include "model/config.h"
#include "model/decode_graph.h"
#include "model/query_block.h"

namespace gptneo {

// One tensor of the checkpoint as validated by the TypeScript loader (canonical names:
// wte.weight, wpe.weight, h.{n}.ln_1.weight, h.{n}.attn.attention.q_proj.weight, …,
// ln_f.bias, and lm_head.weight when the checkpoint does not tie it to wte).
struct TensorEntry {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t offset = 0;  // absolute byte offset in the file
  uint64_t nbytes = 0;
};

struct LoadOptions {
  // Storage dtype of the GEMM weights and embedding tables. kI8 (CPU only) quantizes the GEMM
  // weights (lm_head included); the embedding tables then keep their checkpoint dtype.
  DType weight_dtype = DType::kF32;
  int kv_blocks = 0;                 // KV pool size in blocks (global layers; all layers when
                                     // local_kv_blocks is 0)
  int block_size = 16;               // tokens per block
  int local_kv_blocks = 0;           // > 0: local-attention layers get their own, smaller pool
                                     // addressed through StepInput::local_block_tables
  // Replay decode steps from recordings (model/decode_graph.h) on backends that can record
  // (CUDA graphs); ignored elsewhere.
  bool graphs = true;
  // Element dtype of the KV cache: kF32, or kBF16/kF16 on backends that support it (half the memory;
  // K and V rounded when written). Backend::supports_kv_dtype decides; load() refuses the others.
  DType kv_dtype = DType::kF32;
};

// How decode-step recordings are doing (GptNeoModel::graph_stats).
struct GraphStats {
  bool enabled = false;         // the backend records and LoadOptions::graphs is on, and no
                                // recording has failed
  uint64_t recorded = 0;        // recordings made (one per shape bucket, again after scratch grows)
  uint64_t replays = 0;         // steps served by a replay
  std::string disabled_reason;  // why recording stopped, after a failure
};

// kMeanPooled: the mean over each sequence's rows of ln_f(h), [num_seqs, hidden] (embeddings);
// output_rows is ignored. kBackendLogits: the logits [R, vocab] are computed and left in backend
// memory for the step's sampler (GptNeoModel::select_logit_candidates / download_logit_rows, valid
// until the next step); StepOutput then carries only rows and cols.
enum class OutputKind { kNone = 0, kLogits = 1, kHidden = 2, kArgmax = 3, kMeanPooled = 4, kBackendLogits = 5 };

struct StepInput {
  std::vector<int32_t> token_ids;     // [T]
  std::vector<int32_t> positions;     // [T]
  std::vector<int32_t> seq_starts;    // [S + 1]
  std::vector<int32_t> block_tables;  // [S, max_blocks]
  // [S, max_blocks] tables of the local-layer pool (only with LoadOptions::local_kv_blocks > 0).
  // Entries for blocks that slid out of the window are -1 and are never read.
  std::vector<int32_t> local_block_tables;
  int max_blocks = 0;
  std::vector<int32_t> output_rows;   // [R] token rows whose output is wanted
  OutputKind output = OutputKind::kLogits;
  // Decode run-ahead: steps > 1 runs that many decode steps in one call, each step's token (the
  // argmax, or what a TokenChooser picked from the logits) becoming the next step's input at the next
  // position without a trip through the caller. Needs output kArgmax (kLogits with a chooser), one
  // token per sequence, output_rows = 0..S-1, and block tables (local ones too) that cover positions
  // up to positions[s] + steps - 1. StepOutput::ids is then [steps, S].
  int steps = 1;
};

// The most steps one run-ahead call may take.
constexpr int kMaxRunAheadSteps = 256;

// Picks a run-ahead step's tokens: `logits` [S, vocab] (host memory; nullptr when the run's output is
// kBackendLogits: the chooser then reads them through the model) → ids[S]; an id < 0 marks a row
// with no usable token (it is reported as such and fed token 0 from then on).
using TokenChooser = std::function<Status(int step, const float* logits, int32_t* ids)>;

// A request to GptNeoModel::select_logit_candidates, host memory, in Backend::select_candidates'
// layout (model/backend.h CandidateArgs) for the last step's R logit rows.
struct CandidateRequest {
  std::vector<int32_t> need;         // [R]
  std::vector<int32_t> out_start;    // [R + 1], from 0, non-decreasing
  std::vector<int32_t> extra_start;  // [R + 1], from 0, non-decreasing
  std::vector<int32_t> extra_ids;    // [extra_start[R]], each in [0, vocab)
};

// Its answer, the block of words as downloaded: counts[R], ids[slots], vals[slots], extra_vals[extras].
// Row r's candidates are ids()/vals()[out_start[r] .. + counts()[r]) when counts()[r] fits its slots;
// extra_vals()[e] is the logit of extra_ids[e]. The words are the model's (its query block's host
// side): valid until its next query.
struct CandidateRows {
  const int32_t* words = nullptr;
  int rows = 0;
  size_t slots = 0, extras = 0;
  const int32_t* counts() const { return words; }
  const int32_t* ids() const { return words + rows; }
  const float* vals() const { return reinterpret_cast<const float*>(words + rows + slots); }
  const float* extra_vals() const { return reinterpret_cast<const float*>(words + rows + 2 * slots); }
};

// A request to GptNeoModel::draw_logit_rows: the queries of the last step's R logit rows, in
// Backend::draw_rows' layout (cpu::DrawQueries; a row without a query has temperature 0).
using DrawRequest = cpu::DrawQueries;

struct StepOutput {
  int rows = 0;
  int cols = 0;
  // logits [R, vocab], hidden [R, hidden] or pooled [S, hidden]: `count` floats from
  // host_alloc (huge pages for big blocks: 512 rows of logits are 103 MB), left uninitialised by
  // allocate() (every element is written), so that the N-API layer can hand the block to
  // JavaScript without another copy; free it with host_free.
  struct HostFree {
    void operator()(float* p) const { host_free(p); }
  };
  std::unique_ptr<float[], HostFree> values;
  size_t count = 0;
  size_t capacity = 0;        // floats in `values` (a StepOutput kept across steps reuses them)
  std::vector<int32_t> ids;   // argmax [R]; [steps, R] for a run-ahead step (StepInput::steps)

  float* allocate(size_t n) {
    if (!values || capacity < n) {
      values.reset(static_cast<float*>(host_alloc(n * sizeof(float))));
      capacity = values ? n : 0;
      if (!values) throw std::bad_alloc();
    }
    count = n;
    return values.get();
  }
};

struct LayerWeights {
  float* ln1_g = nullptr; float* ln1_b = nullptr;
  std::unique_ptr<PreparedLinear> qkv;        // [3H, H], no bias
  std::unique_ptr<PreparedLinear> out_proj;   // [H, H]
  float* out_proj_b = nullptr;
  float* ln2_g = nullptr; float* ln2_b = nullptr;
  std::unique_ptr<PreparedLinear> c_fc;       // [I, H]
  float* c_fc_b = nullptr;
  std::unique_ptr<PreparedLinear> c_proj;     // [H, I]
  float* c_proj_b = nullptr;
  KvCache kv;                                 // K, V: [kv_blocks, block_size, heads, head_dim]
};

class GptNeoModel {
 public:
  GptNeoModel(ModelConfig config, std::unique_ptr<Backend> backend);
  ~GptNeoModel();

  Status load(const std::string& path, const std::vector<TensorEntry>& tensors,
              const LoadOptions& options);
  Status step(const StepInput& in, StepOutput* out);
  // A run-ahead (in.steps >= 1, in.output kLogits) whose tokens `choose` picks from each step's logits
  // (the in-step sampler). StepOutput::ids: [steps, S].
  Status step_chosen(const StepInput& in, const TokenChooser& choose, StepOutput* out);

  // After a step with output kBackendLogits (inside a step_chosen chooser too): each row's top
  // candidates and the extra ids' logits (Backend::select_candidates), and whole rows of logits (out:
  // [rows.size(), vocab]). kInvalidArgument when no such step precedes the call or the request does
  // not fit its rows.
  Status select_logit_candidates(const CandidateRequest& req, CandidateRows* out);
  // After such a step: each row's token drawn where the logits are (Backend::draw_rows): tokens [R]
  // get a token, kDrawUncertain, kDrawDeclined or (a sum query) kDrawSummed; sums [R] each row's
  // weight sum S' (NaN when declined).
  Status draw_logit_rows(const DrawRequest& req, std::vector<int32_t>* tokens, std::vector<double>* sums);
  // Both at once, either may be null (the two above are this with one): both queries checked (either
  // malformed refuses both), then one copy up, both kernels back to back, one copy down and one
  // synchronisation (the model's QueryBlock).
  Status query_logit_rows(const DrawRequest* draw, std::vector<int32_t>* tokens, std::vector<double>* sums,
                          const CandidateRequest* candidates, CandidateRows* rows);
  Status download_logit_rows(const std::vector<int32_t>& rows, float* out);
  // download_logit_rows into the model's own host block (Backend::alloc_host: page-locked on CUDA, so
  // the copy runs at the bus rate); *out is valid until the next call or step.
  Status read_logit_rows(const std::vector<int32_t>& rows, const float** out);

  const ModelConfig& config() const { return config_; }
  Backend& backend() { return *backend_; }
  int kv_blocks() const { return options_.kv_blocks; }
  int local_kv_blocks() const { return options_.local_kv_blocks; }
  int block_size() const { return options_.block_size; }
  DType kv_dtype() const { return options_.kv_dtype; }
  size_t weight_bytes() const { return weight_bytes_; }
  size_t kv_bytes() const { return kv_bytes_; }
  GraphStats graph_stats() const;

 private:
  // chosen: the run's tokens come from a TokenChooser (output kLogits) instead of the argmax.
  Status validate_step(const StepInput& in, bool chosen = false) const;
  // One forward pass of a validated step that is not served from a recording.
  Status step_packed(const StepInput& in, StepOutput* out);
  // A validated single step, from a recording when it can be.
  Status step_single(const StepInput& in, StepOutput* out);
  // A validated run-ahead step by single steps: argmax (choose == nullptr) or chosen tokens.
  Status step_run_ahead(const StepInput& in, const TokenChooser* choose, StepOutput* out);
  // history_ holds at least `count` ids.
  Status ensure_history(int count);
  Status ensure_scratch(int tokens, int out_rows);
  Status upload_batch(const StepInput& in, DeviceBatch* batch, DeviceBatch* local_batch);
  Status forward_layers(const DeviceBatch& batch, const DeviceBatch& local_batch);

  // Decode steps from recordings (graph_step.cpp).
  bool graph_step_eligible(const StepInput& in) const;
  Status step_decode_graph(const StepInput& in, StepOutput* out);
  GraphShape graph_shape_for(const StepInput& in) const;
  void stage_graph_meta(const StepInput& in, const GraphShape& shape);
  DeviceBatch graph_batch(const DecodeGraph& g, bool local) const;
  // Layers, ln_f and the LM head (and argmax) for a graph's padded batch: what is recorded.
  Status forward_decode(const DecodeGraph& g);
  Status record_decode_graph(DecodeGraph* g);
  Status download_decode_outputs(const StepInput& in, const DecodeGraph& g, StepOutput* out);
  void drop_graphs();

  ModelConfig config_;
  std::unique_ptr<Backend> backend_;
  LoadOptions options_;
  std::unique_ptr<MappedFile> file_;
  bool loaded_ = false;

  const void* wte_ = nullptr; DType wte_dtype_ = DType::kF32;
  const void* wpe_ = nullptr; DType wpe_dtype_ = DType::kF32;
  std::vector<LayerWeights> layers_;
  float* lnf_g_ = nullptr; float* lnf_b_ = nullptr;
  std::unique_ptr<PreparedLinear> lm_head_;   // [vocab, H]
  size_t weight_bytes_ = 0;
  size_t kv_bytes_ = 0;

  // Scratch (backend memory), grown on demand.
  int scratch_tokens_ = 0, scratch_rows_ = 0, scratch_meta_ = 0;
  float* h_ = nullptr;      // [T, H] residual stream
  float* x_ = nullptr;      // [T, H] layer-norm output
  float* qkv_ = nullptr;    // [T, 3H]
  float* attn_ = nullptr;   // [T, H]
  float* mlp_ = nullptr;    // [T, I]
  float* rows_ = nullptr;   // [R, H]
  float* logits_ = nullptr; // [R, V]
  int32_t* meta_ = nullptr; // ids, positions, seq starts, block tables, rows, argmax, local tables
  std::vector<int32_t> staging_;  // host copy of meta_, uploaded in one transfer per step
  int32_t* history_ = nullptr;    // [steps, S] argmax of a recorded run-ahead (backend memory)
  int history_capacity_ = 0;
  StepOutput run_ahead_step_;     // one step of step_run_ahead (its logits block kept across calls)
  int backend_logits_rows_ = 0;   // rows of logits_ a kBackendLogits step left for its sampler (else 0)
  QueryBlock queries_;            // query_logit_rows' queries and answers
  struct CandidateLayout {        // the last candidate query's parts in queries_
    int rows = 0;
    size_t slots = 0, extras = 0;
    size_t need = 0, out_start = 0, extra_start = 0, extra_ids = 0;  // query offsets
    size_t words = 0;                                                // answer offset
  } candidate_layout_;
  struct DrawLayout {             // the last draw query's parts in queries_
    int rows = 0;
    size_t params = 0, change_vals = 0, change_start = 0, change_meta = 0;  // query offsets
    size_t sums = 0, tokens = 0;                                            // answer offsets
  } draw_layout_;
  // The parts of query_logit_rows for each kind: check the request against the step's rows; add its
  // parts to queries_; the kernel's arguments (after QueryBlock::send); read the answer (after the
  // synchronisation).
  Status check_candidate_query(const CandidateRequest& req) const;
  void stage_candidate_query(const CandidateRequest& req);
  CandidateArgs candidate_args() const;
  void collect_candidates(CandidateRows* out) const;
  Status check_draw_query(const DrawRequest& req) const;
  void stage_draw_query(const DrawRequest& req);
  DrawArgs draw_args() const;
  void collect_draw(std::vector<int32_t>* tokens, std::vector<double>* sums) const;
  Status check_logit_rows(const std::vector<int32_t>& rows) const;  // rows of the last kBackendLogits step
  Status copy_logit_rows(const std::vector<int32_t>& rows, float* out);  // (checked rows) → out
  float* host_rows_ = nullptr;    // read_logit_rows' block (Backend::alloc_host)
  size_t host_rows_capacity_ = 0; // in floats
  std::vector<void*> allocations_;

  // Recorded decode steps. Recordings point at the scratch buffers: growing them drops them all.
  bool graphs_on_ = false;        // LoadOptions::graphs and the backend can record
  int spare_block_ = -1;          // the spare block of the main pool (padding rows), or -1
  int spare_local_block_ = -1;    // the spare block of the local pool
  std::vector<DecodeGraph> graphs_;
  uint64_t graphs_recorded_ = 0, graph_replays_ = 0;
  std::string graphs_disabled_reason_;
};

// Parses "F32" / "F16" / "BF16"; false for anything else.
bool parse_dtype(const std::string& s, DType* out);
// Parses a weight storage dtype: parse_dtype's names plus "I8".
bool parse_weight_dtype(const std::string& s, DType* out);

}  // namespace gptneo
