// The persistent decode layer's grid barrier (cuda/grid_barrier.h) played by host threads, one per
// block, with the same algorithm over host atomics: across many "launches" of several barriers each
// (the state is never reset between launches, as on the GPU), no block leaves a barrier before every
// block has arrived at it, writes made before a barrier are seen after it, and the state is back to count 0 with the
// generation advanced once per barrier. A block that never arrives makes the others give up after
// their poll budget instead of waiting forever.
#include <thread>
#include <vector>

#include "cuda/grid_barrier.h"
#include "tests/cpu/harness.h"
#include "tests/report.h"

namespace gptneo::cputest {
namespace {

using gptneo::testing::fmt;

struct HostBarrierOps {
  unsigned int load_acquire(const unsigned int* p) const { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
  unsigned int fetch_add_acq_rel(unsigned int* p, unsigned int v) const {
    return __atomic_fetch_add(p, v, __ATOMIC_ACQ_REL);
  }
  void store_relaxed(unsigned int* p, unsigned int v) const { __atomic_store_n(p, v, __ATOMIC_RELAXED); }
  void store_release(unsigned int* p, unsigned int v) const { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
  void pause() const { std::this_thread::yield(); }
};

// blocks threads run `launches` x `barriers` pairs of barriers; before the first of pair k a block writes
// k + 1 into its slot (plain memory, published by the barrier), between the two every slot must hold k + 1.
bool play(int blocks, int launches, int barriers, std::string* why) {
  gncuda::GridBarrierState state{0u, 0u};
  std::vector<int> slot(blocks, 0);
  std::vector<int> bad(blocks, 0);
  std::vector<std::thread> threads;
  for (int b = 0; b < blocks; ++b) {
    threads.emplace_back([&, b] {
      HostBarrierOps ops;
      int k = 0;
      for (int l = 0; l < launches; ++l)
        for (int i = 0; i < barriers; ++i, ++k) {
          slot[b] = k + 1;
          if (!gncuda::grid_barrier_wait(&state, blocks, ops, 1ll << 22)) {
            bad[b] = -1;
            return;
          }
          for (int u = 0; u < blocks; ++u) {
            const int seen = __atomic_load_n(&slot[u], __ATOMIC_RELAXED);
            if (seen != k + 1) bad[b] = bad[b] ? bad[b] : 1 + u;
          }
          // (a second barrier so that nobody overwrites its slot with k + 3 before the checks end)
          if (!gncuda::grid_barrier_wait(&state, blocks, ops, 1ll << 22)) {
            bad[b] = -1;
            return;
          }
        }
    });
  }
  for (auto& t : threads) t.join();
  for (int b = 0; b < blocks; ++b)
    if (bad[b] != 0) {
      *why = bad[b] < 0 ? fmt("block %d gave up", b) : fmt("block %d saw block %d out of step", b, bad[b] - 1);
      return false;
    }
  const unsigned int want_gen = 2u * launches * barriers;
  if (state.count != 0 || state.generation != want_gen) {
    *why = fmt("state count %d generation %d, expected 0 and %d", state.count, state.generation, want_gen);
    return false;
  }
  return true;
}

}  // namespace

void test_grid_barrier() {
  int cases = 0, failed = 0;
  std::string why, first;
  for (int blocks : {1, 2, 3, 5, 8})
    for (int barriers : {1, 4}) {
      ++cases;
      if (!play(blocks, 25, barriers, &why) && failed++ == 0) first = gptneo::testing::fmt("%d blocks, %d barriers: ", blocks, barriers) + why;
    }
  report(failed == 0, gptneo::testing::fmt("grid_barrier: %d plays (1-8 blocks, 25 launches of 1 or 4 barriers) in step", cases), first);

  // Two of three blocks arrive: both give up after their polls and neither passes.
  gncuda::GridBarrierState state{0u, 0u};
  int passed = 0;
  std::vector<std::thread> threads;
  for (int b = 0; b < 2; ++b)
    threads.emplace_back([&] {
      HostBarrierOps ops;
      if (gncuda::grid_barrier_wait(&state, 3, ops, 2000)) __atomic_fetch_add(&passed, 1, __ATOMIC_RELAXED);
    });
  for (auto& t : threads) t.join();
  report(passed == 0 && state.count == 2 && state.generation == 0,
         "grid_barrier: with a block missing, the others give up after their poll budget",
         gptneo::testing::fmt("passed %d, count %d, generation %d", passed, state.count, state.generation));
}

}  // namespace gptneo::cputest
