// GptNeoModel's decode steps from recordings (model/decode_graph.h): pad the step to its shape
// bucket, stage its metadata into the bucket's fixed buffer, then replay the bucket's recording
// (or, the first time, run the padded step uncaptured for this step's result and record it).
// A run-ahead (StepInput::steps > 1) replays the recording once per step with advance_decode
// between replays, and waits for the device only once, at the end.
#include <algorithm>

#include "model/gpt_neo.h"

namespace gptneo {

GraphStats GptNeoModel::graph_stats() const {
  GraphStats s;
  s.enabled = graphs_on_ && graphs_disabled_reason_.empty();
  s.recorded = graphs_recorded_;
  s.replays = graph_replays_;
  s.disabled_reason = graphs_disabled_reason_;
  return s;
}

bool GptNeoModel::graph_step_eligible(const StepInput& in) const {
  if (!graphs_on_ || !graphs_disabled_reason_.empty()) return false;
  if (in.output != OutputKind::kLogits && in.output != OutputKind::kArgmax && in.output != OutputKind::kBackendLogits)
    return false;
  const int T = static_cast<int>(in.token_ids.size());
  const int S = static_cast<int>(in.seq_starts.size()) - 1;
  if (T != S || S > kMaxGraphSeqs || static_cast<int>(in.output_rows.size()) != S) return false;
  for (int i = 0; i < S; ++i)
    if (in.output_rows[i] != i) return false;  // (validate_step: one token per sequence then)
  return true;
}

GraphShape GptNeoModel::graph_shape_for(const StepInput& in) const {
  // A run-ahead's last step has the longest context: one recording serves all of its steps.
  int context = 0;
  for (int p : in.positions) context = std::max(context, p + in.steps);
  GraphShape shape;
  shape.seqs = graph_seqs_bucket(static_cast<int>(in.token_ids.size()));
  shape.context = graph_context_bucket(context, config_.max_positions);
  shape.max_blocks = (shape.context + options_.block_size - 1) / options_.block_size;
  // Logits left in backend memory are recorded as logits output: only the download differs.
  shape.output = static_cast<int>(in.output == OutputKind::kBackendLogits ? OutputKind::kLogits : in.output);
  shape.local = options_.local_kv_blocks > 0;
  return shape;
}

// Writes the padded step into staging_ in graph_meta_layout(shape) order. Rows past the step's
// sequences are padding: token 0 at position 0, every block the spare one. Table entries past a
// sequence's last block are never read; they get the spare block too.
void GptNeoModel::stage_graph_meta(const StepInput& in, const GraphShape& shape) {
  const GraphMetaLayout m = graph_meta_layout(shape);
  const int S = static_cast<int>(in.token_ids.size());
  const int width = shape.max_blocks;
  staging_.assign(m.count, 0);
  for (int s = 0; s < shape.seqs; ++s) {
    const bool real = s < S;
    staging_[m.ids + s] = real ? in.token_ids[s] : 0;
    staging_[m.positions + s] = real ? in.positions[s] : 0;
    staging_[m.starts + s] = s;
    const int used = real ? std::min(in.max_blocks, width) : 0;
    for (int b = 0; b < width; ++b) {
      const size_t src = static_cast<size_t>(s) * in.max_blocks + b;
      const size_t dst = static_cast<size_t>(s) * width + b;
      staging_[m.tables + dst] = b < used ? in.block_tables[src] : spare_block_;
      if (shape.local) staging_[m.local_tables + dst] = b < used ? in.local_block_tables[src] : spare_local_block_;
    }
  }
  staging_[m.starts + shape.seqs] = shape.seqs;
}

DeviceBatch GptNeoModel::graph_batch(const DecodeGraph& g, bool local) const {
  const GraphMetaLayout m = graph_meta_layout(g.shape);
  DeviceBatch b;
  b.tokens = g.shape.seqs;
  b.num_seqs = g.shape.seqs;
  b.d_token_ids = g.d_meta + m.ids;
  b.d_positions = g.d_meta + m.positions;
  b.d_seq_starts = g.d_meta + m.starts;
  b.d_block_tables = g.d_meta + (local ? m.local_tables : m.tables);
  b.max_blocks = g.shape.max_blocks;
  b.block_size = options_.block_size;
  // The longest context the recording must serve, not this step's: the attention plan (splits)
  // is frozen at recording time; positions are read on the device at replay.
  b.max_context = g.shape.context;
  return b;
}

Status GptNeoModel::forward_decode(const DecodeGraph& g) {
  Backend& be = *backend_;
  const DeviceBatch batch = graph_batch(g, false);
  const DeviceBatch local_batch = g.shape.local ? graph_batch(g, true) : batch;
  const int rows = g.shape.seqs, H = config_.hidden, V = config_.vocab_size;
  GN_RETURN_IF_ERROR(forward_layers(batch, local_batch));
  // Row r of the step is sequence r's output row: no gather. ln_f and the lm_head as one op (one launch
  // where the backend folds the layer norm into its decode GEMV; rows_ is scratch then).
  GN_RETURN_IF_ERROR(be.layernorm_linear(h_, rows, H, lnf_g_, lnf_b_, config_.layer_norm_eps, *lm_head_, nullptr,
                                         logits_, V, LinearEpilogue::kStore, rows_));
  if (g.shape.output == static_cast<int>(OutputKind::kArgmax))
    GN_RETURN_IF_ERROR(be.argmax_rows(logits_, rows, V, g.d_meta + graph_meta_layout(g.shape).argmax));
  return Status::Ok();
}

Status GptNeoModel::record_decode_graph(DecodeGraph* g) {
  GN_RETURN_IF_ERROR(backend_->capture_begin());
  const Status ran = forward_decode(*g);
  std::unique_ptr<RecordedWork> work;
  const Status ended = backend_->capture_end(&work);  // closes the capture either way
  GN_RETURN_IF_ERROR(ran);
  GN_RETURN_IF_ERROR(ended);
  g->work = std::move(work);
  return Status::Ok();
}

void GptNeoModel::drop_graphs() {
  for (DecodeGraph& g : graphs_) {
    g.work.reset();
    if (g.d_meta) backend_->release(g.d_meta);
  }
  graphs_.clear();
}

Status GptNeoModel::step_decode_graph(const StepInput& in, StepOutput* out) {
  const GraphShape shape = graph_shape_for(in);
  GN_RETURN_IF_ERROR(ensure_scratch(shape.seqs, shape.seqs));
  auto found = std::find_if(graphs_.begin(), graphs_.end(), [&](const DecodeGraph& g) { return g.shape == shape; });
  const bool fresh = found == graphs_.end();
  DecodeGraph* g = nullptr;
  if (fresh) {
    DecodeGraph made;
    made.shape = shape;
    void* mem = nullptr;
    GN_RETURN_IF_ERROR(backend_->alloc(graph_meta_layout(shape).count * sizeof(int32_t), &mem));
    made.d_meta = static_cast<int32_t*>(mem);
    graphs_.push_back(std::move(made));
    g = &graphs_.back();
  } else {
    g = &*found;
  }
  stage_graph_meta(in, shape);
  GN_RETURN_IF_ERROR(backend_->upload_staged(g->d_meta, staging_.data(), staging_.size() * sizeof(int32_t)));
  const int S = static_cast<int>(in.token_ids.size());
  if (in.steps > 1) GN_RETURN_IF_ERROR(ensure_history(in.steps * S));
  const GraphMetaLayout m = graph_meta_layout(shape);

  bool drop_after = false;
  Status status = Status::Ok();
  for (int j = 0; j < in.steps && status.ok(); ++j) {
    if (fresh && j == 0) {
      // This step's result comes from an uncaptured run of the padded step (which also sizes the
      // attention scratch the recording will use); then the same ops are recorded. A failed
      // recording leaves the result intact and turns recording off for this model.
      const Status ran = forward_decode(*g);
      if (!ran.ok()) {
        backend_->release(g->d_meta);
        graphs_.pop_back();
        return ran;
      }
      const Status recorded = record_decode_graph(g);
      if (recorded.ok()) {
        ++graphs_recorded_;
      } else {
        graphs_disabled_reason_ = recorded.message();
        drop_after = true;
      }
    } else if (drop_after) {
      status = forward_decode(*g);  // the rest of a run-ahead whose recording failed
    } else {
      status = backend_->replay(*g->work);
      if (status.ok()) ++graph_replays_;
    }
    if (status.ok() && in.steps > 1) {
      // The step's argmax becomes the next one's token, one position on; the real rows only
      // (padding rows stay at position 0 in the spare block).
      status = backend_->advance_decode(g->d_meta + m.argmax, S, g->d_meta + m.ids, g->d_meta + m.positions,
                                        history_ + static_cast<size_t>(j) * S);
    }
  }
  if (status.ok()) status = download_decode_outputs(in, *g, out);
  if (drop_after) drop_graphs();
  return status;
}

// Copies the step's rows (the first S of the padded batch) to the host.
Status GptNeoModel::download_decode_outputs(const StepInput& in, const DecodeGraph& g, StepOutput* out) {
  const int S = static_cast<int>(in.token_ids.size());
  const int V = config_.vocab_size;
  out->rows = S;
  if (in.output == OutputKind::kBackendLogits) {  // left in logits_ (its first S rows) for the sampler
    out->cols = V;
    out->count = 0;
    return Status::Ok();
  }
  GN_RETURN_IF_ERROR(backend_->synchronize());
  if (in.output == OutputKind::kArgmax) {
    out->cols = 0;
    if (in.steps > 1) {
      out->ids.resize(static_cast<size_t>(in.steps) * S);
      return backend_->download(out->ids.data(), history_, out->ids.size() * sizeof(int32_t));
    }
    out->ids.resize(S);
    return backend_->download(out->ids.data(), g.d_meta + graph_meta_layout(g.shape).argmax, S * sizeof(int32_t));
  }
  out->cols = V;
  float* dst = out->allocate(static_cast<size_t>(S) * V);
  return backend_->download(dst, logits_, out->count * sizeof(float));
}

}  // namespace gptneo
