// Chunked DSLA forward on CPU: per (b,h), per chunk: inter-chunk GEMM, mixed intra-chunk scores,
// state update.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "dsla/chunk_cpu.h"
#include "dsla/cpu_gemm.h"
#include "dsla/dsla_math.h"

namespace dsla::kernels::cpu {
namespace {

// S [2d,dv] (S1 rows then S2 rows) from the initial states or zeros.
void init_state(const DslaFwdParams& p, int64_t bh, float* S) {
  const int64_t n = p.d * p.dv;
  for (int j = 0; j < 2; ++j) {
    const float* s0 = j == 0 ? p.s1_0 : p.s2_0;
    if (s0 != nullptr) {
      std::copy_n(s0 + bh * n, n, S + j * n);
    } else {
      std::fill_n(S + j * n, n, 0.f);
    }
  }
}

}  // namespace

// S_j <- exp(lam_j) S_j + (k*exp(lam_j-b_j))^T V
void chunk_state_update(ChunkWork& w, float* S) {
  const int64_t d2 = 2 * w.d, dv = w.dv;
  for (int64_t i = 0; i < d2; ++i) {
    const float a = std::exp(w.lam[i]);
    for (int64_t c = 0; c < dv; ++c) S[i * dv + c] *= a;
  }
  gemm(true, false, d2, dv, w.L, 1.f, w.kg.data(), d2, w.v.data(), dv, 1.f, S, dv);
}

// One (b,h) of the forward: o rows written for the valid prefix; S ends as the final state.
static void chunk_forward_bh(const DslaFwdParams& p, int64_t b, int64_t h, ChunkWork& w, float* S) {
  const int64_t len = seq_len(p.lengths, b, p.T), d2 = 2 * p.d, dv = p.dv;
  mix_weights(p.scale, p.gamma[h], &w.w[0], &w.w[1]);
  for (int64_t t0 = 0; t0 < len; t0 += p.chunk) {
    const int64_t L = std::min(p.chunk, len - t0);
    load_chunk(p, nullptr, b, h, t0, L, w);
    build_factors(w);
    // o = [w1 q e^b1 | w2 q e^b2] [S1; S2]  (inter-chunk, [L,2d] x [2d,dv])
    gemm(false, false, L, dv, d2, 1.f, w.qh.data(), d2, S, dv, 0.f, w.o.data(), dv);
    intra_scores(w);  // M [L,L] = tril(w1 A1 + w2 A2)
    gemm(false, false, L, dv, L, 1.f, w.M.data(), L, w.v.data(), dv, 1.f, w.o.data(), dv);
    store_rows(w.o.data(), p.o, p.qkv_dtype, p, b, h, t0, L, dv);
    chunk_state_update(w, S);
  }
}

void dsla_fwd_cpu(const DslaFwdParams& p) {
  const int64_t n = p.d * p.dv;
  at::parallel_for(0, p.B * p.H, 1, [&](int64_t begin, int64_t end) {
    SerialBlasScope serial_blas;
    ChunkWork w(p.chunk, p.d, p.dv, /*backward=*/false);
    std::vector<float> S(2 * n);
    for (int64_t bh = begin; bh < end; ++bh) {
      init_state(p, bh, S.data());
      chunk_forward_bh(p, bh / p.H, bh % p.H, w, S.data());
      if (p.s1 != nullptr) std::copy_n(S.data(), n, p.s1 + bh * n);
      if (p.s2 != nullptr) std::copy_n(S.data() + n, n, p.s2 + bh * n);
    }
  });
}

void chunk_boundary_states(const DslaFwdParams& p, int64_t b, int64_t h, ChunkWork& w, float* Sb) {
  const int64_t len = seq_len(p.lengths, b, p.T), n2 = 2 * p.d * p.dv;
  init_state(p, b * p.H + h, Sb);
  int64_t c = 0;
  for (int64_t t0 = 0; t0 < len; t0 += p.chunk, ++c) {
    const int64_t L = std::min(p.chunk, len - t0);
    load_chunk(p, nullptr, b, h, t0, L, w);
    build_factors(w);
    std::copy_n(Sb + c * n2, n2, Sb + (c + 1) * n2);
    chunk_state_update(w, Sb + (c + 1) * n2);
  }
}

}  // namespace dsla::kernels::cpu
