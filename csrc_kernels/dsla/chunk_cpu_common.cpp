// chunk_cpu.h: chunk loading, factor matrices and the intra-chunk scores/gradients (factorised or
// direct).
#include <algorithm>
#include <cmath>

#include "dsla/chunk_cpu.h"
#include "dsla/cpu_gemm.h"
#include "dsla/dsla_math.h"

namespace dsla::kernels::cpu {

ChunkWork::ChunkWork(int64_t chunk, int64_t d_, int64_t dv_, bool backward)
    : C(chunk), d(d_), dv(dv_) {
  q.resize(C * d), k.resize(C * d), g[0].resize(C * d), g[1].resize(C * d);
  v.resize(C * dv), o.resize(C * dv), lam.resize(2 * d);
  qt.resize(C * 2 * d), kt.resize(C * 2 * d), qh.resize(C * 2 * d), kg.resize(C * 2 * d);
  M.resize(C * C);
  if (backward) {
    dO.resize(C * dv), dP.resize(C * C);
    X.resize(C * 2 * d), Y.resize(C * 2 * d), Z.resize(C * 2 * d);
  }
}

namespace {

// Copies L rows of width `cols` of (b,h) from a [B,T,H,cols] buffer to dst [L,cols] in fp32.
void load_rows(const void* src, DslaDtype dt, const DslaFwdParams& p, int64_t b, int64_t h,
               int64_t t0, int64_t L, int64_t cols, float* dst) {
  for (int64_t r = 0; r < L; ++r) {
    const int64_t base = ((b * p.T + t0 + r) * p.H + h) * cols;
    if (dt == DslaDtype::kF32) {
      std::copy_n(static_cast<const float*>(src) + base, cols, dst + r * cols);
    } else {
      for (int64_t c = 0; c < cols; ++c) dst[r * cols + c] = load_elem(src, base + c, dt);
    }
  }
}

// Adds state j's exact intra-chunk terms for a chunk whose decay span is too large to factorise.
// Scores: M[r,u] += w_j A[r,u]. With dP (backward): X_j[r] += sum_u dP[r,u] k_u e, Y_j[u] += w_j dP
// q_r e.
void direct_intra(ChunkWork& w, int j, bool backward) {
  const int64_t L = w.L, d = w.d, d2 = 2 * d;
  const float* b = w.g[j].data();
  for (int64_t r = 0; r < L; ++r) {
    for (int64_t u = 0; u <= r; ++u) {
      float acc = 0.f;
      const float dp = backward ? w.dP[r * L + u] : 0.f;
      for (int64_t i = 0; i < d; ++i) {
        const float e = chunk_decay(b[r * d + i], b[u * d + i]);
        acc += w.q[r * d + i] * w.k[u * d + i] * e;
        if (backward) {
          w.X[r * d2 + j * d + i] += dp * w.k[u * d + i] * e;
          w.Y[u * d2 + j * d + i] += w.w[j] * dp * w.q[r * d + i] * e;
        }
      }
      if (!backward) w.M[r * L + u] += w.w[j] * acc;
    }
  }
}

}  // namespace

void load_chunk(const DslaFwdParams& p, const void* dO, int64_t b, int64_t h, int64_t t0, int64_t L,
                ChunkWork& w) {
  w.L = L;
  load_rows(p.q, p.qkv_dtype, p, b, h, t0, L, p.d, w.q.data());
  load_rows(p.k, p.qkv_dtype, p, b, h, t0, L, p.d, w.k.data());
  load_rows(p.v, p.qkv_dtype, p, b, h, t0, L, p.dv, w.v.data());
  load_rows(p.g1, p.gate_dtype, p, b, h, t0, L, p.d, w.g[0].data());
  load_rows(p.g2, p.gate_dtype, p, b, h, t0, L, p.d, w.g[1].data());
  if (dO != nullptr) load_rows(dO, p.qkv_dtype, p, b, h, t0, L, p.dv, w.dO.data());
  for (int j = 0; j < 2; ++j) {  // in-chunk inclusive cumulative sums, still in log space
    float* g = w.g[j].data();
    for (int64_t r = 1; r < L; ++r)
      for (int64_t i = 0; i < p.d; ++i) g[r * p.d + i] += g[(r - 1) * p.d + i];
  }
}

void build_factors(ChunkWork& w) {
  const int64_t L = w.L, d = w.d, d2 = 2 * d;
  for (int j = 0; j < 2; ++j) {
    float span = 0.f;
    for (int64_t i = 0; i < d; ++i) {
      w.lam[j * d + i] = w.g[j][(L - 1) * d + i];
      span = std::max(span, -w.lam[j * d + i]);
    }
    w.factorised[j] = span <= kMaxFactorisedSpan;
  }
  for (int64_t r = 0; r < L; ++r) {
    for (int j = 0; j < 2; ++j) {
      const float* b = w.g[j].data() + r * d;
      const float* lam = w.lam.data() + j * d;
      float* qt = w.qt.data() + r * d2 + j * d;
      float* kt = w.kt.data() + r * d2 + j * d;
      float* qh = w.qh.data() + r * d2 + j * d;
      float* kg = w.kg.data() + r * d2 + j * d;
      for (int64_t i = 0; i < d; ++i) {
        const float qi = w.q[r * d + i], ki = w.k[r * d + i];
        qh[i] = w.w[j] * qi * std::exp(b[i]);
        kg[i] = ki * chunk_decay(lam[i], b[i]);
        const float ref = 0.5f * lam[i];
        qt[i] = w.factorised[j] ? w.w[j] * qi * std::exp(b[i] - ref) : 0.f;
        kt[i] = w.factorised[j] ? ki * std::exp(ref - b[i]) : 0.f;
      }
    }
  }
}

void intra_scores(ChunkWork& w) {
  const int64_t L = w.L, d2 = 2 * w.d;
  gemm(false, true, L, L, d2, 1.f, w.qt.data(), d2, w.kt.data(), d2, 0.f, w.M.data(), L);
  for (int j = 0; j < 2; ++j)
    if (!w.factorised[j]) direct_intra(w, j, /*backward=*/false);
  for (int64_t r = 0; r < L; ++r)
    std::fill(w.M.begin() + r * L + r + 1, w.M.begin() + (r + 1) * L, 0.f);
}

void intra_grads(ChunkWork& w) {
  const int64_t L = w.L, d = w.d, d2 = 2 * d;
  for (int64_t r = 0; r < L; ++r)
    std::fill(w.dP.begin() + r * L + r + 1, w.dP.begin() + (r + 1) * L, 0.f);
  gemm(false, false, L, d2, L, 1.f, w.dP.data(), L, w.kt.data(), d2, 0.f, w.X.data(), d2);
  gemm(true, false, L, d2, L, 1.f, w.dP.data(), L, w.qt.data(), d2, 0.f, w.Y.data(), d2);
  for (int j = 0; j < 2; ++j) {
    if (!w.factorised[j]) continue;
    for (int64_t r = 0; r < L; ++r) {
      for (int64_t i = 0; i < d; ++i) {
        const float x = w.g[j][r * d + i] - 0.5f * w.lam[j * d + i];
        w.X[r * d2 + j * d + i] *= std::exp(x);
        w.Y[r * d2 + j * d + i] *= std::exp(-x);
      }
    }
  }
  for (int j = 0; j < 2; ++j)
    if (!w.factorised[j]) direct_intra(w, j, /*backward=*/true);
}

void store_rows(const float* src, void* dst, DslaDtype dt, const DslaFwdParams& p, int64_t b,
                int64_t h, int64_t t0, int64_t L, int64_t cols) {
  for (int64_t r = 0; r < L; ++r) {
    const int64_t base = ((b * p.T + t0 + r) * p.H + h) * cols;
    for (int64_t c = 0; c < cols; ++c) store_elem(dst, base + c, dt, src[r * cols + c]);
  }
}

}  // namespace dsla::kernels::cpu
