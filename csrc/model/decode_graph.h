// Decode steps replayed from recordings (CUDA graphs). A step in which every sequence adds one
// token and wants its own row's logits or argmax is padded to a shape bucket — the sequence
// count rounded up to one of a few sizes, the longest context rounded up to a power of two —
// recorded the first time that bucket is seen and replayed afterwards, so a decode step costs one
// graph launch instead of ~10 kernel launches per layer.
//
// Padding rows are harmless dummies: token 0 at position 0 of a sequence whose every block is the
// pool's spare block (one block past the pool the caller addresses), so they write and read only
// that block; their outputs are never downloaded.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "model/backend.h"

namespace gptneo {

// Decode steps of more sequences run uncaptured (their launches are amortised over the batch).
constexpr int kMaxGraphSeqs = 64;
// The shortest context bucket (one attention split at every head size).
constexpr int kMinGraphContext = 128;

// The padded shape one recording serves.
struct GraphShape {
  int seqs = 0;        // padded sequence count = tokens (graph_seqs_bucket)
  int context = 0;     // longest context served (graph_context_bucket)
  int max_blocks = 0;  // block-table width: ceil(context / block_size)
  int output = 0;      // OutputKind (kLogits or kArgmax) as int
  bool local = false;  // the model has a separate local-layer pool (two tables per sequence)

  bool operator==(const GraphShape& o) const {
    return seqs == o.seqs && context == o.context && max_blocks == o.max_blocks && output == o.output &&
           local == o.local;
  }
};

// The bucket of `seqs` in [1, kMaxGraphSeqs]: 1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64 (at most a
// third of a padded batch is padding once past 4).
int graph_seqs_bucket(int seqs);
// The bucket of a longest context `context` in [1, max_positions]: the smallest power of two
// >= max(context, kMinGraphContext), capped at max_positions.
int graph_context_bucket(int context, int max_positions);

// Where each array of a step lives in a recording's fixed metadata buffer (int32 elements):
//   ids[seqs] positions[seqs] starts[seqs + 1] tables[seqs * max_blocks] argmax[seqs]
//   local tables[seqs * max_blocks] (when shape.local)
struct GraphMetaLayout {
  size_t ids = 0, positions = 0, starts = 0, tables = 0, argmax = 0, local_tables = 0, count = 0;
};
GraphMetaLayout graph_meta_layout(const GraphShape& shape);

// One recorded decode step.
struct DecodeGraph {
  GraphShape shape;
  int32_t* d_meta = nullptr;  // [graph_meta_layout(shape).count] in backend memory
  std::unique_ptr<RecordedWork> work;
};

}  // namespace gptneo
