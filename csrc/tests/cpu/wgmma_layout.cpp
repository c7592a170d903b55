// The index math of the Hopper wgmma GEMM (cuda/wgmma_layout.h, used by cuda/gemm_wgmma_ss.cu),
// checked on the host against the layouts the PTX ISA documents for wgmma (section
// "Asynchronous Warpgroup Level Matrix Multiply-Accumulate Instructions"), so that a machine without
// a GPU catches an index slip:
//  - B: the shared-memory addresses written by the kernel's cp.async chunks equal, element by
//    element, the addresses the hardware reads through the matrix descriptor (start address, stride
//    byte offset, 128-byte swizzle mode) for each of the 4 k16 steps of a stage, and every element
//    of the tile is stored exactly once ("Shared Memory Matrix Layout", K-major, 128B swizzle;
//    "Matrix Descriptor Format").
//  - D: the epilogue's accumulator -> (row, col) mapping covers the 128 x BN block tile exactly once
//    ("Register Fragments", D of .m64nNk16 with .f32).
//  - A (x rounded to 16 bits first, K-major with the same swizzle): its chunks and each warpgroup's
//    descriptor reads agree as B's do.
//  - The pipeline schedule, played through under the weakest guarantees of the waits.
//  - End to end: an emulation of the kernel's data flow (stages written through the load mappings,
//    A and B read back through the descriptor model, D through the epilogue) on tail shapes equals a
//    plain GEMM of the bf16-rounded operands.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <utility>

#include "cuda/wgmma_layout.h"
#include "tests/cpu/harness.h"
#include "tests/cpu/wgmma_hw_model.h"

namespace gptneo::cputest {
namespace {

namespace wg = gncuda::wgmma;

// The hardware's side (Desc, decode, hw_b_address): tests/cpu/wgmma_hw_model.h, written from the
// PTX ISA's description, not from wgmma_layout.h.

void test_descriptor_fields() {
  const uint64_t d = wg::b_desc(0x1C400, 3);
  const Desc x = decode(d);
  const bool ok = x.start == 0x1C400 + 3 * 32 && x.lbo == 16 && x.sbo == 1024 && x.base_offset == 0 && x.swizzle == 1 &&
                  ((d >> 14) & 3) == 0 && ((d >> 30) & 3) == 0 && ((d >> 46) & 7) == 0 && ((d >> 52) & 0x3FF) == 0;
  report(ok, "wgmma descriptor fields", fmt("start=%.0f sbo=%.0f", x.start, x.sbo));
}

template <int BN>
void test_b_layout() {
  using T = wg::TileSS<BN>;
  bool ok = T::kBStageBytes % wg::kSwizzleAtomBytes == 0;
  std::vector<int> writes(T::kBStageBytes / 2, 0), reads(T::kBStageBytes / 2, 0);
  // cp.async chunks: 16-byte aligned, 8 consecutive elements, each 2-byte slot written once.
  for (int c = 0; c < BN * wg::kBK / 8; ++c) {
    const int row = wg::b_chunk_row(c), k = wg::b_chunk_k(c);
    const uint32_t dst = wg::b_offset(row, k);
    ok = ok && row < BN && k + 8 <= wg::kBK && dst % 16 == 0;
    for (int e = 0; e < 8; ++e) {
      ok = ok && wg::b_offset(row, k + e) == dst + 2u * e && dst + 2u * e < (uint32_t)T::kBStageBytes;
      if (ok) writes[(dst + 2 * e) / 2]++;
    }
  }
  ok = ok && std::all_of(writes.begin(), writes.end(), [](int v) { return v == 1; });
  // The hardware's reads for each k16 step, for stages at several 1024-aligned bases, land where the
  // loads put element (n, 16 j + kk), and the 4 steps read every element once.
  int mismatches = 0;
  for (uint32_t base : {0x0u, 0x400u, 0x2C00u, (uint32_t)(3 * T::kBStageBytes)}) {
    for (int j = 0; j < 4; ++j) {
      const Desc d = decode(wg::b_desc(base, j));
      ok = ok && d.swizzle == 1 && d.base_offset == 0 && ((d.start >> 7) & 7) == 0;  // pattern anchored at base
      for (int n = 0; n < BN; ++n)
        for (int kk = 0; kk < 16; ++kk) {
          const uint32_t hw = hw_b_address(d, n, kk);
          if (hw != base + wg::b_offset(n, 16 * j + kk)) ++mismatches;
          else if (base == 0) reads[hw / 2]++;
        }
    }
  }
  ok = ok && mismatches == 0 && std::all_of(reads.begin(), reads.end(), [](int v) { return v == 1; });
  report(ok, fmt("wgmma B tile layout BN=%.0f (128B swizzle, descriptor reads == cp.async writes)", BN),
         fmt("mismatches=%.0f", mismatches));
}

// The shared-operand kernel's A tile (gemm_wgmma_ss.cu): its cp.async chunks write each 16-bit slot
// of the 128 x 64 tile once, and each warpgroup's descriptor for k16 step j reads, element by
// element, where the chunks put (64 g + row, 16 j + kk) (the hardware model of B applied to A's
// 64 rows: both K-major with the 128-byte swizzle).
void test_a16_layout() {
  bool ok = wg::kA16StageBytes % wg::kSwizzleAtomBytes == 0 && (64 * wg::kSwizzleRowBytes) % wg::kSwizzleAtomBytes == 0;
  std::vector<int> writes(wg::kA16StageBytes / 2, 0), reads(wg::kA16StageBytes / 2, 0);
  for (int c = 0; c < wg::kBM * wg::kBK / 8; ++c) {
    const int row = wg::a16_chunk_row(c), k = wg::a16_chunk_k(c);
    const uint32_t dst = wg::a16_offset(row, k);
    ok = ok && row < wg::kBM && k + 8 <= wg::kBK && dst % 16 == 0;
    for (int e = 0; e < 8; ++e) {
      ok = ok && wg::a16_offset(row, k + e) == dst + 2u * e && dst + 2u * e < (uint32_t)wg::kA16StageBytes;
      if (ok) writes[(dst + 2 * e) / 2]++;
    }
  }
  ok = ok && std::all_of(writes.begin(), writes.end(), [](int v) { return v == 1; });
  int mismatches = 0;
  for (uint32_t base : {0x0u, 0x400u, 0xC000u}) {
    for (int g = 0; g < wg::kWarpgroups; ++g)
      for (int j = 0; j < 4; ++j) {
        const Desc d = decode(wg::a16_desc(base, g, j));
        ok = ok && d.swizzle == 1 && d.base_offset == 0 && d.sbo == 1024 && ((d.start >> 7) & 7) == 0;
        for (int r = 0; r < 64; ++r)
          for (int kk = 0; kk < 16; ++kk) {
            const uint32_t hw = hw_b_address(d, r, kk);
            if (hw != base + wg::a16_offset(64 * g + r, 16 * j + kk)) ++mismatches;
            else if (base == 0) reads[hw / 2]++;
          }
      }
  }
  ok = ok && mismatches == 0 && std::all_of(reads.begin(), reads.end(), [](int v) { return v == 1; });
  report(ok, "wgmma-ss A tile layout (128B swizzle, per-warpgroup descriptor reads == cp.async writes)",
         fmt("mismatches=%.0f", mismatches));
}

// The shared-operand kernel's schedule (wgmma_layout.h ss_*), played through with the weakest
// guarantees the instructions give: cp.async.wait_group N leaves the last N committed groups possibly
// unfinished, wgmma.wait_group 1 the last wgmma group. Every tile must be loaded once, into a slot
// nothing may still read, and have landed when its wgmmas are issued.
void test_ss_schedule() {
  bool ok = true;
  int checked = 0;
  for (int S : {wg::TileSS<256>::kStages, wg::TileSS<128>::kStages})
    for (int ktiles = 1; ktiles <= 40; ++ktiles) {
      std::vector<int> group_tile;            // cp.async group -> the tile it loads (-1: empty group)
      std::vector<int> slot_tile(S, -1);      // the tile last loaded into each slot
      std::vector<int> loads(ktiles, 0);
      auto load = [&](int t) {
        if (t >= ktiles) {
          group_tile.push_back(-1);
          return;
        }
        ok = ok && t >= 0 && wg::ss_slot(t, S) >= 0 && wg::ss_slot(t, S) < S;
        slot_tile[wg::ss_slot(t, S)] = t;
        loads[t]++;
        group_tile.push_back(t);
      };
      for (int t = 0; t < wg::ss_prologue_tiles(S); ++t) load(t);
      for (int kt = 0; kt < ktiles; ++kt) {
        // cp.async.wait_group: all but the last ss_pending_groups(S) groups have landed.
        const int landed = (int)group_tile.size() - wg::ss_pending_groups(S);
        bool here = false;
        for (int g = 0; g < landed; ++g) here = here || group_tile[g] == kt;
        ok = ok && here && slot_tile[wg::ss_slot(kt, S)] == kt;
        // After the barrier: wgmma groups 0 .. kt-2 are done; kt-1's may still read its slot.
        const int next = wg::ss_refill_tile(kt, S);
        if (next < ktiles) {
          const int slot = wg::ss_slot(next, S), previous = slot_tile[slot];
          ok = ok && slot != wg::ss_slot(kt, S) && (kt == 0 || slot != wg::ss_slot(kt - 1, S)) &&
               (previous < 0 || previous <= kt - 2);  // an empty slot, or one whose wgmmas are done
        }
        load(next);  // the kernel commits a group every iteration, empty past the last tile
        ++checked;
      }
      ok = ok && std::all_of(loads.begin(), loads.end(), [](int v) { return v == 1; });
    }
  report(ok, "wgmma-ss pipeline schedule (tiles loaded once, into free slots, landed before use)",
         fmt("%.0f iterations over 4 and 6 stages", checked));
}

// The TMA kernels' pipeline (wgmma_layout.h tma_*; gemm_wgmma_tma.cu), played through against a model
// of the mbarrier (PTX ISA "mbarrier": a phase completes when its pending arrivals and its expected
// transaction bytes both reach zero, the byte count free to go below zero first; try_wait.parity P
// succeeds once the phase of parity P has completed, i.e. while the current phase's parity differs
// from P) with a random interleaving of the producers, the consumer warpgroups and the copies'
// completions, for a cluster of `blocks` blocks (1, or 2 sharing W: each block's producer copies its
// A tile into its own stage and its part of B into the same stage of every block) that each take
// `out_tiles` output tiles of `ktiles` k-tiles (1: a block per tile; more: persistent), the k-tile
// counter running on across them. wgmma.wait_group 1 is taken at its weakest: exactly the newest
// group may still read its stage; wait_group 0 ends each output tile. Checked: every copy lands in a
// stage no unretired wgmma of its block reads and whose previous k-tile both of that block's
// warpgroups have consumed, every wgmma reads a stage holding every part of its k-tile with no copy
// in flight, and the run finishes (no deadlock).
struct MBar {
  int count = 0, pending = 0, phase = 0;  // phase: completed phases so far
  long tx = 0;
  void init(int n) { count = pending = n; }
  void settle() {
    if (pending == 0 && tx == 0) {
      ++phase;
      pending = count;
    }
  }
  void arrive() { --pending, settle(); }
  void arrive_expect_tx(long bytes) { tx += bytes, --pending, settle(); }
  void complete_tx(long bytes) { tx -= bytes, settle(); }
  bool try_wait(uint32_t parity) const { return (uint32_t)(phase & 1) != parity; }
};

enum class TmaMutation {
  kNone,
  kEarlyRelease,     // a stage released before its wgmmas retire
  kWrongParity,      // the producer waits for the other parity
  kKeepLastStage,    // an output tile's last stage never released (deadlocks a persistent block)
  kReleaseTwice,     // the in-loop release keyed on the block's counter, not the tile's k index
  kLocalRelease,     // in a cluster: consumers release only their own block's stage
  kExpectOwnBytes,   // in a cluster: the full barrier expects only this block's copies
};

bool play_tma_pipeline(int blocks, int stages, int ktiles, int out_tiles, std::mt19937& rng, TmaMutation mutation) {
  const long kPartBytes = 1000;  // A, and each block's part of B
  const int parts = 1 + blocks;  // part 0: A; part 1 + r: block r's rows of B
  const int total = ktiles * out_tiles;  // k-tiles over a block's output tiles
  struct Block {
    std::vector<MBar> full, empty;
    std::vector<std::vector<int>> landed, copying;  // [stage][part]: k-tile, -1 none
    std::vector<std::vector<int>> consumed;         // [warpgroup][k-tile]
    std::vector<int> inflight[2];                   // k-tiles whose wgmmas may still read their stage
    int producer = 0, consumer[2] = {0, 0};
  };
  std::vector<Block> bl(blocks);
  for (auto& b : bl) {
    b.full.resize(stages), b.empty.resize(stages);
    for (auto& m : b.full) m.init(1);
    for (auto& m : b.empty) m.init(wg::kTmaConsumerWarps * blocks);
    b.landed.assign(stages, std::vector<int>(parts, -1));
    b.copying.assign(stages, std::vector<int>(parts, -1));
    b.consumed.assign(2, std::vector<int>(total, 0));
  }
  struct Copy {
    int block, stage, part, ktile;
  };
  std::vector<Copy> copies;  // issued, not yet landed
  bool ok = true;
  const auto reading = [&](const Block& b, int s) {
    for (int g = 0; g < 2; ++g)
      for (int t : b.inflight[g])
        if (wg::tma_stage(t, stages) == s) return true;
    return false;
  };
  const auto issue = [&](int d, int part, int t) {
    Block& b = bl[d];
    const int s = wg::tma_stage(t, stages), previous = t - stages;
    ok = ok && b.copying[s][part] < 0 && !reading(b, s) &&
         (previous < 0 || (b.consumed[0][previous] == 1 && b.consumed[1][previous] == 1));
    b.copying[s][part] = t;
    copies.push_back({d, s, part, t});
  };
  const auto release = [&](int self, int t) {  // lane 0 of each of a warpgroup's 4 warps
    for (int r = 0; r < blocks; ++r) {
      if (r != self && mutation == TmaMutation::kLocalRelease) continue;
      for (int w = 0; w < wg::kTmaConsumerWarps / 2; ++w) bl[r].empty[wg::tma_stage(t, stages)].arrive();
    }
  };
  for (int guard = 0; guard < 4000000; ++guard) {
    // Moves: producer of block r (r), consumer g of block r (blocks + 2 r + g), copy i landing (3 blocks + i).
    std::vector<int> moves;
    for (int r = 0; r < blocks; ++r) {
      const Block& b = bl[r];
      if (b.producer < total) {
        const uint32_t parity = wg::tma_empty_parity(b.producer, stages) ^ (mutation == TmaMutation::kWrongParity ? 1u : 0u);
        if (b.empty[wg::tma_stage(b.producer, stages)].try_wait(parity)) moves.push_back(r);
      }
      for (int g = 0; g < 2; ++g) {
        const int t = b.consumer[g];
        if (t < total && b.full[wg::tma_stage(t, stages)].try_wait(wg::tma_full_parity(t, stages)))
          moves.push_back(blocks + 2 * r + g);
      }
    }
    for (size_t i = 0; i < copies.size(); ++i) moves.push_back(3 * blocks + (int)i);
    if (moves.empty()) break;
    const int mv = moves[rng() % moves.size()];
    if (mv < blocks) {
      Block& b = bl[mv];
      const int t = b.producer++, s = wg::tma_stage(t, stages);
      b.full[s].arrive_expect_tx(mutation == TmaMutation::kExpectOwnBytes ? 2 * kPartBytes : parts * kPartBytes);
      issue(mv, 0, t);
      for (int d = 0; d < blocks; ++d) issue(d, 1 + mv, t);
    } else if (mv < 3 * blocks) {
      const int r = (mv - blocks) / 2, g = (mv - blocks) % 2;
      Block& b = bl[r];
      const int t = b.consumer[g]++, s = wg::tma_stage(t, stages), kt = t % ktiles;
      for (int part = 0; part < parts; ++part) ok = ok && b.copying[s][part] < 0 && b.landed[s][part] == t;
      b.consumed[g][t]++;
      b.inflight[g].push_back(t);
      while ((int)b.inflight[g].size() > 1) b.inflight[g].erase(b.inflight[g].begin());  // wait_group 1
      // The kernel: k-tile it - 1's stage after wait_group 1, from the tile's second k-tile on.
      if (mutation == TmaMutation::kEarlyRelease) release(r, t);
      else if (kt > 0 || (mutation == TmaMutation::kReleaseTwice && t > 0)) release(r, t - 1);
      if (kt == ktiles - 1) {
        b.inflight[g].clear();  // wait_group 0 before the epilogue, then the tile's last stage
        if (mutation != TmaMutation::kEarlyRelease && mutation != TmaMutation::kKeepLastStage) release(r, t);
      }
    } else {
      const size_t i = (size_t)(mv - 3 * blocks);
      const Copy c = copies[i];
      copies.erase(copies.begin() + (long)i);
      Block& b = bl[c.block];
      b.landed[c.stage][c.part] = c.ktile;
      b.copying[c.stage][c.part] = -1;
      b.full[c.stage].complete_tx(kPartBytes);
    }
  }
  for (const auto& b : bl) {
    ok = ok && b.producer == total && b.consumer[0] == total && b.consumer[1] == total;
    for (int g = 0; g < 2; ++g)
      ok = ok && std::all_of(b.consumed[g].begin(), b.consumed[g].end(), [](int v) { return v == 1; });
  }
  return ok;
}

void test_tma_schedule() {
  std::mt19937 rng(7);
  bool ok = true;
  int runs = 0, mutants_caught = 0, mutants = 0;
  const int stage_counts[] = {wg::TileTma<256>::kStages, wg::TileTma<128>::kStages};
  for (int blocks : {1, 2})
    for (int stages : stage_counts)
      for (int out_tiles : {1, 2, 3, 7})
        for (int ktiles = 1; ktiles <= (out_tiles == 1 ? 40 : 13); ++ktiles)
          for (int rep = 0; rep < 10 * (3 - blocks); ++rep, ++runs)
            ok = ok && play_tma_pipeline(blocks, stages, ktiles, out_tiles, rng, TmaMutation::kNone);
  // The mutations must fail on some interleaving of a long enough run (blocks of 3 output tiles; the
  // last-stage one only deadlocks where a block takes several; the cluster ones need a cluster).
  for (int stages : stage_counts)
    for (TmaMutation mutation : {TmaMutation::kEarlyRelease, TmaMutation::kWrongParity, TmaMutation::kKeepLastStage,
                                 TmaMutation::kReleaseTwice, TmaMutation::kLocalRelease, TmaMutation::kExpectOwnBytes}) {
      const bool cluster_only = mutation == TmaMutation::kLocalRelease || mutation == TmaMutation::kExpectOwnBytes;
      for (int blocks : {1, 2}) {
        if (cluster_only && blocks == 1) continue;
        ++mutants;
        bool caught = false;
        for (int rep = 0; rep < 200 && !caught; ++rep) caught = !play_tma_pipeline(blocks, stages, 9, 3, rng, mutation);
        mutants_caught += caught;
      }
    }
  report(ok && mutants_caught == mutants,
         "wgmma-tma mbarrier pipeline, 1-7 output tiles per block, clusters of 1 and 2 (copies into free stages, reads of "
         "landed tiles, no deadlock)",
         fmt("%.0f random interleavings; mutations caught %.0f", runs, mutants_caught) + fmt(" of %.0f", mutants));
}

// Output tiles over the blocks of a grid (tma_units_m, tma_tile_row/col; the kernels' loop over units
// cluster + i clusters): every tile of every shape once, whether the grid has a block per tile or
// fewer, in clusters of 1 or 2 (a second block past the last m tile takes nothing real).
void test_tma_tile_order() {
  bool ok = true;
  int grids = 0;
  for (int cluster : {1, 2})
    for (int tiles_m : {1, 2, 9, 17})
      for (int tiles_n : {1, 3, 12, 34}) {
        const int units_m = wg::tma_units_m(tiles_m, cluster), units = units_m * tiles_n;
        for (int clusters : {1, 7, 66, units}) {
          ++grids;
          std::vector<int> seen(tiles_m * tiles_n, 0);
          for (int c = 0; c < clusters; ++c)
            for (int unit = c; unit < units; unit += clusters)
              for (int rank = 0; rank < cluster; ++rank) {
                const int r = wg::tma_tile_row(unit, units_m, cluster, rank), col = wg::tma_tile_col(unit, units_m);
                ok = ok && r >= 0 && r < cluster * units_m && col >= 0 && col < tiles_n;
                if (ok && r < tiles_m) seen[col * tiles_m + r]++;
              }
          ok = ok && std::all_of(seen.begin(), seen.end(), [](int v) { return v == 1; });
        }
      }
  // B parts: the blocks of a cluster copy disjoint row ranges covering the tile, each starting at a
  // whole swizzle atom.
  for (int bn : {128, 256})
    for (int cluster : {1, 2})
      for (int rank = 0; rank < cluster; ++rank) {
        const int row = wg::tma_b_part_row(bn, cluster, rank);
        ok = ok && row == rank * bn / cluster && (row * wg::kSwizzleRowBytes) % wg::kSwizzleAtomBytes == 0;
      }
  report(ok, "wgmma-tma output tiles: each once over any grid and cluster (a block per tile, or persistent)",
         fmt("%.0f grids", grids));
}

template <int BN>
void test_d_layout() {
  std::vector<int> seen(wg::kBM * BN, 0);
  bool ok = true;
  for (int g = 0; g < wg::kWarpgroups; ++g)
    for (int warp = 0; warp < 4; ++warp)
      for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < BN / 2; ++i) {
          const int row = 64 * g + wg::d_row(warp, lane, i), col = wg::d_col(lane, i);
          ok = ok && row >= 64 * g && row < 64 * g + 64 && col < BN;
          if (ok) seen[row * BN + col]++;
        }
  ok = ok && std::all_of(seen.begin(), seen.end(), [](int v) { return v == 1; });
  report(ok, fmt("wgmma D fragment -> (row, col) covers the 128 x %.0f tile once", BN), "");
}

// The kernel's data flow on the host: stages written through the load mapping (zero fill beyond
// m, n, k; x rounded to bf16 first, as the conversion pass does), A and B read through the
// descriptor model (each warpgroup its 64 rows of A), each k16 step D[64 x BN] += A[64 x 16] B[16 x BN]
// per warpgroup (the wgmma semantics), and y written through the D mapping with bounds checks.
// Compared with a double-precision GEMM of the bf16-rounded operands.
template <int BN>
void test_emulated_gemm(int m, int n, int k, Rng& rng) {
  using T = wg::TileSS<BN>;
  std::vector<float> x(static_cast<size_t>(m) * k), w(static_cast<size_t>(n) * k);
  for (auto& v : x) v = rng.uniform(-1.f, 1.f);
  for (auto& v : w) v = round_to(DType::kBF16, rng.uniform(-1.f, 1.f));
  const float kPoison = kNaN;
  std::vector<float> y(static_cast<size_t>(m) * n, kPoison);
  std::vector<uint8_t> b_stage(T::kBStageBytes), a16_stage(wg::kA16StageBytes);
  std::vector<uint16_t> x16(x.size());  // the conversion pass's output
  for (size_t i = 0; i < x.size(); ++i) x16[i] = f32_to_bf16(x[i]);
  const int ktiles = (k + wg::kBK - 1) / wg::kBK;
  for (int m0 = 0; m0 < m; m0 += wg::kBM)
    for (int n0 = 0; n0 < n; n0 += BN) {
      std::vector<float> acc(static_cast<size_t>(wg::kThreads) * T::kAcc, 0.f);  // [thread][i]
      for (int kt = 0; kt < ktiles; ++kt) {
        const int k0 = kt * wg::kBK;
        std::fill(b_stage.begin(), b_stage.end(), 0xCD);  // stale bytes must all be overwritten
        std::fill(a16_stage.begin(), a16_stage.end(), 0xCD);
        for (int tid = 0; tid < wg::kThreads; ++tid)
          for (int i = 0; i < T::kAChunks; ++i) {
            const int c = tid + i * wg::kThreads, row = wg::a16_chunk_row(c), col = wg::a16_chunk_k(c);
            const bool in = m0 + row < m && k0 + col < k;
            for (int e = 0; e < 8; ++e) {
              const uint16_t h = in ? x16[(size_t)(m0 + row) * k + k0 + col + e] : 0;
              std::memcpy(&a16_stage[wg::a16_offset(row, col) + 2 * e], &h, 2);
            }
          }
        for (int tid = 0; tid < wg::kThreads; ++tid) {
          for (int i = 0; i < T::kBChunks; ++i) {
            const int c = tid + i * wg::kThreads, row = wg::b_chunk_row(c), col = wg::b_chunk_k(c);
            const bool in = n0 + row < n && k0 + col < k;
            for (int e = 0; e < 8; ++e) {
              const uint16_t h = in ? f32_to_bf16(w[(size_t)(n0 + row) * k + k0 + col + e]) : 0;
              std::memcpy(&b_stage[wg::b_offset(row, col) + 2 * e], &h, 2);
            }
          }
        }
        for (int j = 0; j < 4; ++j) {
          const Desc d = decode(wg::b_desc(0, j));
          for (int g = 0; g < wg::kWarpgroups; ++g) {
            float A[64][16], B[16][BN];
            const Desc ad = decode(wg::a16_desc(0, g, j));
            for (int r = 0; r < 64; ++r)
              for (int kk = 0; kk < 16; ++kk) {
                uint16_t h;
                std::memcpy(&h, &a16_stage[hw_b_address(ad, r, kk)], 2);
                A[r][kk] = bf16_to_f32(h);
              }
            for (int kk = 0; kk < 16; ++kk)
              for (int c = 0; c < BN; ++c) {
                uint16_t h;
                std::memcpy(&h, &b_stage[hw_b_address(d, c, kk)], 2);
                B[kk][c] = bf16_to_f32(h);
              }
            for (int warp = 0; warp < 4; ++warp)
              for (int lane = 0; lane < 32; ++lane)
                for (int i = 0; i < T::kAcc; ++i) {
                  const int r = wg::d_row(warp, lane, i), c = wg::d_col(lane, i);
                  float s = 0.f;
                  for (int kk = 0; kk < 16; ++kk) s += A[r][kk] * B[kk][c];
                  acc[(size_t)(128 * g + 32 * warp + lane) * T::kAcc + i] += s;
                }
          }
        }
      }
      for (int tid = 0; tid < wg::kThreads; ++tid) {
        const int g = tid >> 7, warp = (tid >> 5) & 3, lane = tid & 31;
        for (int i = 0; i < T::kAcc; ++i) {
          const int row = m0 + 64 * g + wg::d_row(warp, lane, i), col = n0 + wg::d_col(lane, i);
          if (row < m && col < n) y[(size_t)row * n + col] = acc[(size_t)tid * T::kAcc + i];
        }
      }
    }
  double max_rel = 0.0;
  bool all_written = true;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0.0, mag = 0.0;
      for (int kk = 0; kk < k; ++kk) {
        const double p = (double)round_to(DType::kBF16, x[(size_t)i * k + kk]) * w[(size_t)j * k + kk];
        ref += p;
        mag += std::fabs(p);
      }
      const float got = y[(size_t)i * n + j];
      all_written = all_written && !std::isnan(got);
      max_rel = std::max(max_rel, std::fabs(got - ref) / (mag + 1e-30));
    }
  // fp32 accumulation of k products: |error| <= k u sum|p| (u = 2^-24), far below one bf16 ulp.
  const bool ok = all_written && max_rel <= k * kU;
  report(ok, fmt("wgmma-ss emulated GEMM BN=%.0f m=%.0f n=%.0f", BN, m, n) +
                 fmt(" k=%.0f", k),
         fmt("max err/sum|p|=%.3g", max_rel) + (all_written ? "" : " (unwritten outputs)"));
}

}  // namespace

void test_wgmma_layout(Rng& rng) {
  test_descriptor_fields();
  test_b_layout<128>();
  test_b_layout<256>();
  test_d_layout<128>();
  test_d_layout<256>();
  test_a16_layout();
  test_ss_schedule();
  test_tma_schedule();
  test_tma_tile_order();
  test_emulated_gemm<128>(130, 141, 136, rng);  // m, n and k tails (k % 64 = 8)
  test_emulated_gemm<256>(65, 300, 64, rng);
  test_emulated_gemm<256>(200, 300, 264, rng);
}

}  // namespace gptneo::cputest
