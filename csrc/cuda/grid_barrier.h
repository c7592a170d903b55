// A barrier across every block of a grid whose blocks are all resident at once (a cooperative launch),
// reusable any number of times, across launches too: the persistent decode layer (decode_layer.cu) meets
// at one between its phases. Host and device alike, over an Ops policy for the atomics, so that
// tests/cpu/grid_barrier.cpp plays it with threads (grid_barrier.cuh has the device policy).
//
// State: arrivals counted in `count`, which the last arrival sets back to 0 before it advances
// `generation`; the others wait for `generation` to move past the value they read before arriving.
// A block reads the generation before its arrival counts, so that value is still the current barrier's
// (it cannot advance until this block has arrived); a block arrives at the next barrier only after it
// saw the new generation, which the last arrival released after resetting count. Both words start at
// zero (memset once) and count is zero again after every barrier, so a launch needs no set-up.
#pragma once
#include "cuda/host_device.h"

namespace gncuda {

struct GridBarrierState {
  unsigned int count;       // blocks arrived at the current barrier
  unsigned int generation;  // barriers completed (wraps)
};

// Ops: unsigned load_acquire(const unsigned*); unsigned fetch_add_acq_rel(unsigned*, unsigned) (returns
// the previous value); void store_relaxed(unsigned*, unsigned); void store_release(unsigned*, unsigned);
// void pause(). One caller per block. Returns false when the others have not arrived within max_polls
// polls (the caller reports it: a block that never arrives must not hang the process forever).
#if defined(__CUDACC__)
#pragma nv_exec_check_disable  // instantiated for the device with device-only Ops, for the host with host Ops
#endif
template <class Ops>
GN_HD bool grid_barrier_wait(GridBarrierState* b, unsigned int blocks, Ops& ops, long long max_polls) {
  const unsigned int gen = ops.load_acquire(&b->generation);
  const unsigned int arrived = ops.fetch_add_acq_rel(&b->count, 1u) + 1u;
  if (arrived == blocks) {
    ops.store_relaxed(&b->count, 0u);
    ops.store_release(&b->generation, gen + 1u);
    return true;
  }
  for (long long polls = 0; ops.load_acquire(&b->generation) == gen; ++polls) {
    if (polls >= max_polls) return false;
    ops.pause();
  }
  return true;
}

}  // namespace gncuda
