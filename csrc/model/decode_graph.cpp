#include "model/decode_graph.h"

#include <algorithm>

namespace gptneo {

int graph_seqs_bucket(int seqs) {
  static constexpr int kBuckets[] = {1, 2, 4, 6, 8, 12, 16, 24, 32, 48, kMaxGraphSeqs};
  for (int b : kBuckets)
    if (seqs <= b) return b;
  return kMaxGraphSeqs;
}

int graph_context_bucket(int context, int max_positions) {
  int bucket = kMinGraphContext;
  while (bucket < context && bucket < max_positions) bucket *= 2;
  return std::min(bucket, std::max(max_positions, context));
}

GraphMetaLayout graph_meta_layout(const GraphShape& shape) {
  const size_t s = static_cast<size_t>(shape.seqs);
  const size_t table = s * static_cast<size_t>(shape.max_blocks);
  GraphMetaLayout m;
  m.ids = 0;
  m.positions = m.ids + s;
  m.starts = m.positions + s;
  m.tables = m.starts + s + 1;
  m.argmax = m.tables + table;
  m.local_tables = m.argmax + s;
  m.count = m.local_tables + (shape.local ? table : 0);
  return m;
}

}  // namespace gptneo
