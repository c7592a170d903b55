// Plain-C launcher of the pooling kernel (conventions as in cuda/api.h).
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// d_out[s, c] = mean of d_x[r, c] over the rows r of sequence s, i.e.
// r in [d_seq_starts[s], d_seq_starts[s + 1]).
//   d_x: [rows, dim] (ld ldx) float32; d_seq_starts: [num_seqs + 1] int32; d_out: [num_seqs, dim].
int gn_cuda_segment_mean(const float* d_x, int ldx, const int32_t* d_seq_starts, int num_seqs, int dim,
                         float* d_out, void* stream);

#ifdef __cplusplus
}
#endif
