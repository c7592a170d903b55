// A host emulation of attention_tc_kernel's warp-level data flow (csrc/cuda/attention_tc.cu) for
// one block: the same shared-memory layout, the same fragment reads (cuda/tc_fragments.h), the same
// online softmax, with mma.sync and ldmatrix .trans modelled from their PTX definitions — the mma
// by assembling the whole A, B and C tiles from every lane's registers (each element must come from
// exactly one lane), ldmatrix by gathering each 8x8 matrix from the row addresses the lanes give
// and handing lane (g, t) elements (2t, g) and (2t + 1, g). A slip in the kernel's index math that
// this mirrors shows up as a wrong result here, without a GPU. (It cannot catch a transcription
// slip between this file and the kernel; the GPU tests do.)
#pragma once
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "cuda/tc_fragments.h"

namespace gptneo::testing::tc_emu {

namespace frag = gncuda::frag;
using Round = std::function<float(float)>;

struct Lanes4 { float v[32][4][2]; };  // A fragments (or ldmatrix .x4 results): [lane][reg][half]
struct Lanes2 { float v[32][2][2]; };  // B fragments
struct Acc { float v[32][4] = {}; };   // C fragments

// mma.m16n8k16: c += A·B from the lanes' fragments; *layout_ok cleared if some element of A or B is
// held by no lane or by two.
inline void mma(Acc& c, const Lanes4& a, const Lanes2& b, bool* layout_ok) {
  float A[16][16], B[16][8];
  int seen_a[16][16] = {}, seen_b[16][8] = {};
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i)
      for (int h = 0; h < 2; ++h) {
        const frag::RowCol rc = frag::a_elem(lane, i, h);
        A[rc.row][rc.col] = a.v[lane][i][h];
        seen_a[rc.row][rc.col]++;
        if (i < 2) {
          const frag::RowCol bc = frag::b_elem(lane, i, h);
          B[bc.row][bc.col] = b.v[lane][i][h];
          seen_b[bc.row][bc.col]++;
        }
      }
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 16; ++k) *layout_ok = *layout_ok && seen_a[r][k] == 1 && (r >= 8 || seen_b[k][r] == 1);
  for (int lane = 0; lane < 32; ++lane)
    for (int r = 0; r < 4; ++r) {
      const frag::RowCol rc = frag::c_elem(lane, r);
      float s = 0.f;
      for (int k = 0; k < 16; ++k) s += A[rc.row][k] * B[k][rc.col];
      c.v[lane][r] += s;
    }
}

// ldmatrix.m8n8.x4.trans.b16 from a row-major array: lane l gives the element index addr[l] of
// row l % 8 of matrix l / 8.
inline Lanes4 ldmatrix_x4_trans(const std::vector<float>& smem, const int* addr) {
  Lanes4 out;
  for (int lane = 0; lane < 32; ++lane)
    for (int j = 0; j < 4; ++j)
      for (int h = 0; h < 2; ++h) {
        const int row = 2 * (lane & 3) + h, col = lane >> 2;  // element (2t + h, g) of matrix j
        out.v[lane][j][h] = smem[addr[8 * j + row] + col];
      }
  return out;
}

struct Problem {
  int n = 0;             // queries (<= 64), consecutive rows of one sequence
  int D = 0, DMAX = 0;   // head dim, and the instantiation's (64 or 128)
  int window = 0;
  int keys = 64;         // keys per tile: the kernel's KEYS (64, or 32 on GPUs with less shared memory)
  float scale = 1.f;
  std::vector<int> pos;                  // [n]
  std::vector<float> q;                  // [n, D]
  std::vector<float> k, v;               // [keys, D] dense, key j at position j
};

// out [n, D]; returns false if a fragment layout check failed.
inline bool run_block(const Problem& p, const Round& rnd, std::vector<float>* out) {
  constexpr int kQ = 64;
  const int kKeys = p.keys;
  const int LD = p.DMAX + 8, KC = p.DMAX / 16, NS = kKeys / 8, NO = p.DMAX / 8;
  bool ok = true;
  std::vector<float> kq_s(std::max(kQ, kKeys) * LD, 0.f), v_s(kKeys * LD, 0.f);
  for (int r = 0; r < kQ; ++r)
    for (int d = 0; d < p.DMAX; ++d) kq_s[r * LD + d] = r < p.n && d < p.D ? rnd(p.q[(size_t)r * p.D + d]) : 0.f;
  int pmin = 1 << 30, pmax = -1;
  for (int r = 0; r < p.n; ++r) pmin = std::min(pmin, p.pos[r]), pmax = std::max(pmax, p.pos[r]);
  const int kb = p.window > 0 ? std::max(0, pmin - p.window + 1) : 0, ke = pmax + 1;
  const float scale_log2 = p.scale * 1.4426950408889634f;

  std::vector<std::vector<Lanes4>> qf(4, std::vector<Lanes4>(KC));
  for (int w = 0; w < 4; ++w)
    for (int kc = 0; kc < KC; ++kc)
      for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i)
          for (int h = 0; h < 2; ++h) {
            const frag::RowCol rc = frag::a_elem(lane, i, 0);
            qf[w][kc].v[lane][i][h] = kq_s[(w * 16 + rc.row) * LD + kc * 16 + rc.col + h];  // 32-bit word
          }
  std::vector<std::vector<Acc>> o(4, std::vector<Acc>(NO));
  float m[4][32][2], l[4][32][2];
  for (int w = 0; w < 4; ++w)
    for (int lane = 0; lane < 32; ++lane)
      for (int hf = 0; hf < 2; ++hf) m[w][lane][hf] = -INFINITY, l[w][lane][hf] = 0.f;
  auto row_pos = [&](int w, int lane, int r) {
    const int row = w * 16 + frag::c_elem(lane, r).row;
    return row < p.n ? p.pos[row] : -1;
  };

  for (int kt = kb; kt < ke; kt += kKeys) {
    for (int r = 0; r < kKeys; ++r)
      for (int d = 0; d < p.D; ++d) {
        const int j = kt + r;
        kq_s[r * LD + d] = j < ke ? rnd(p.k[(size_t)j * p.D + d]) : 0.f;
        v_s[r * LD + d] = j < ke ? rnd(p.v[(size_t)j * p.D + d]) : 0.f;
      }
    for (int w = 0; w < 4; ++w) {
      std::vector<Acc> sc(NS);
      for (int kc = 0; kc < KC; ++kc) {
        if (kc * 16 >= p.D) continue;
        for (int j = 0; j < NS; ++j) {
          Lanes2 bf;
          for (int lane = 0; lane < 32; ++lane)
            for (int i = 0; i < 2; ++i)
              for (int h = 0; h < 2; ++h) {
                const frag::RowCol rc = frag::b_elem(lane, i, 0);
                bf.v[lane][i][h] = kq_s[(j * 8 + rc.col) * LD + kc * 16 + rc.row + h];  // 32-bit word
              }
          mma(sc[j], qf[w][kc], bf, &ok);
        }
      }
      // Online softmax per lane, rows reduced over the quad (lanes 4g .. 4g + 3).
      float mx[32][2];
      for (int lane = 0; lane < 32; ++lane) {
        mx[lane][0] = mx[lane][1] = -INFINITY;
        for (int j = 0; j < NS; ++j)
          for (int r = 0; r < 4; ++r) {
            const int key = kt + j * 8 + frag::c_elem(lane, r).col, pos = row_pos(w, lane, r);
            const bool vis = pos >= 0 && key <= pos && (p.window == 0 || key > pos - p.window);
            float& x = sc[j].v[lane][r];
            x = vis ? x * scale_log2 : -INFINITY;
            mx[lane][r >> 1] = std::max(mx[lane][r >> 1], x);
          }
      }
      for (int lane = 0; lane < 32; ++lane) {
        const int q0 = lane & ~3;
        float quad[2] = {-INFINITY, -INFINITY};
        for (int u = 0; u < 4; ++u)
          for (int hf = 0; hf < 2; ++hf) quad[hf] = std::max(quad[hf], mx[q0 + u][hf]);
        float corr[2], base[2], sum[2] = {0.f, 0.f};
        for (int hf = 0; hf < 2; ++hf) {
          const float mn = std::max(m[w][lane][hf], quad[hf]);
          base[hf] = mn == -INFINITY ? 0.f : mn;
          corr[hf] = std::exp2(m[w][lane][hf] - base[hf]);
          m[w][lane][hf] = mn;
        }
        for (int j = 0; j < NS; ++j)
          for (int r = 0; r < 4; ++r) {
            float& x = sc[j].v[lane][r];
            x = std::exp2(x - base[r >> 1]);
            sum[r >> 1] += x;
          }
        for (int hf = 0; hf < 2; ++hf) l[w][lane][hf] = l[w][lane][hf] * corr[hf] + sum[hf];
        for (int n = 0; n < NO; ++n)
          for (int r = 0; r < 4; ++r) o[w][n].v[lane][r] *= corr[r >> 1];
      }
      // O += P·V.
      for (int kc = 0; kc < kKeys / 16; ++kc) {
        Lanes4 pa;
        for (int lane = 0; lane < 32; ++lane)
          for (int h = 0; h < 2; ++h) {
            pa.v[lane][0][h] = rnd(sc[2 * kc].v[lane][h]);
            pa.v[lane][1][h] = rnd(sc[2 * kc].v[lane][2 + h]);
            pa.v[lane][2][h] = rnd(sc[2 * kc + 1].v[lane][h]);
            pa.v[lane][3][h] = rnd(sc[2 * kc + 1].v[lane][2 + h]);
          }
        for (int np = 0; np < NO / 2; ++np) {
          if (np * 16 >= p.D) continue;
          int addr[32];
          for (int lane = 0; lane < 32; ++lane) {
            const frag::RowCol ra = frag::ldmatrix_x4_row_addr(lane);
            addr[lane] = (kc * 16 + ra.row) * LD + np * 16 + ra.col;
          }
          const Lanes4 vb = ldmatrix_x4_trans(v_s, addr);
          Lanes2 b0, b1;
          for (int lane = 0; lane < 32; ++lane)
            for (int i = 0; i < 2; ++i)
              for (int h = 0; h < 2; ++h) b0.v[lane][i][h] = vb.v[lane][i][h], b1.v[lane][i][h] = vb.v[lane][2 + i][h];
          mma(o[w][2 * np], pa, b0, &ok);
          mma(o[w][2 * np + 1], pa, b1, &ok);
        }
      }
    }
  }

  out->assign((size_t)p.n * p.D, NAN);
  for (int w = 0; w < 4; ++w)
    for (int lane = 0; lane < 32; ++lane) {
      const int q0 = lane & ~3;
      float lsum[2] = {0.f, 0.f};
      for (int u = 0; u < 4; ++u)
        for (int hf = 0; hf < 2; ++hf) lsum[hf] += l[w][q0 + u][hf];
      for (int n = 0; n < NO; ++n)
        for (int r = 0; r < 4; ++r) {
          const frag::RowCol rc = frag::c_elem(lane, r);
          const int row = w * 16 + rc.row, col = n * 8 + rc.col;
          const float inv = lsum[r >> 1] > 0.f ? 1.f / lsum[r >> 1] : 0.f;
          if (row < p.n && col < p.D) (*out)[(size_t)row * p.D + col] = o[w][n].v[lane][r] * inv;
        }
    }
  return ok;
}

}  // namespace gptneo::testing::tc_emu
