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
  eb.resize(C * 2 * d), elb.resize(C * 2 * d);
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
    // With g <= 0, b falls monotonically from b_0 <= 0 to lam; lo/hi also guard against g > 0.
    float lo = 0.f, hi = 0.f;
    for (int64_t e = 0; e < L * d; ++e) lo = std::min(lo, w.g[j][e]), hi = std::max(hi, w.g[j][e]);
    for (int64_t i = 0; i < d; ++i) w.lam[j * d + i] = w.g[j][(L - 1) * d + i];
    w.factorised[j] = -lo <= kMaxFactorisedSpan && hi <= 0.f;
  }
  // Per-channel constants: e^{lam}, e^{ref}, e^{-ref} with ref = lam/2 (|ref| <= 30 when
  // factorised).
  std::vector<float> elam(d2), eref(d2), eiref(d2);
  for (int64_t c = 0; c < d2; ++c) {
    elam[c] = std::exp(w.lam[c]), eref[c] = std::exp(0.5f * w.lam[c]);
    eiref[c] = 1.f / eref[c];
  }
  for (int64_t r = 0; r < L; ++r) {
    for (int j = 0; j < 2; ++j) {  // branch-free inner loops (vectorisable apart from exp)
      const float* b = w.g[j].data() + r * d;
      const float *q = w.q.data() + r * d, *k = w.k.data() + r * d;
      const int64_t o = r * d2 + j * d;
      float *eb = w.eb.data() + o, *elb = w.elb.data() + o, *qh = w.qh.data() + o;
      float *qt = w.qt.data() + o, *kt = w.kt.data() + o, *kg = w.kg.data() + o;
      const float *el = elam.data() + j * d, *er = eref.data() + j * d, *eir = eiref.data() + j * d;
      for (int64_t i = 0; i < d; ++i) eb[i] = std::exp(b[i]);
      for (int64_t i = 0; i < d; ++i) qh[i] = w.w[j] * q[i] * eb[i];
      if (w.factorised[j]) {  // b >= lam >= -60: 1/eb <= e^60 stays finite, one exp per element
        for (int64_t i = 0; i < d; ++i) {
          const float ieb = 1.f / eb[i];
          elb[i] = el[i] * ieb;
          qt[i] = qh[i] * eir[i];
          kt[i] = k[i] * ieb * er[i];
        }
      } else {  // exp(b) may underflow: take exp(lam - b) <= 1 directly
        for (int64_t i = 0; i < d; ++i) elb[i] = chunk_decay(w.lam[j * d + i], b[i]);
        std::fill_n(qt, d, 0.f), std::fill_n(kt, d, 0.f);
      }
      for (int64_t i = 0; i < d; ++i) kg[i] = k[i] * elb[i];
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
    for (int64_t i = 0; i < d; ++i) {
      const float eref = std::exp(0.5f * w.lam[j * d + i]), eiref = 1.f / eref;
      for (int64_t r = 0; r < L; ++r) {  // X *= e^{b-ref}, Y *= e^{ref-b}
        const int64_t e = r * d2 + j * d + i;
        w.X[e] *= w.eb[e] * eiref;
        w.Y[e] *= eref / w.eb[e];
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
    if (dt == DslaDtype::kF32) {
      std::copy_n(src + r * cols, cols, static_cast<float*>(dst) + base);
    } else {
      for (int64_t c = 0; c < cols; ++c) store_elem(dst, base + c, dt, src[r * cols + c]);
    }
  }
}

}  // namespace dsla::kernels::cpu
