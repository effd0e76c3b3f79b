// Chunked DSLA backward on CPU: recompute chunk-boundary states, then walk chunks in reverse
// carrying dS.
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

#include "dsla/chunk_cpu.h"
#include "dsla/cpu_gemm.h"
#include "dsla/dsla_math.h"

namespace dsla::kernels::cpu {

namespace {

// Gradients wrt q, k, g1, g2 and gamma from X (dq_hat per state), Y (dk per state, weighted) of one
// chunk; dlam [2d] = rowsum(dS_end * S_end). The gate gradient is the reverse cumsum of
// dB_j = q w_j dq_hat_j - k dk_j (+ dlam_j on the last row).
void finish_qkg(const DslaBwdParams& p, int64_t b, int64_t h, int64_t t0, ChunkWork& w,
                const float* dlam, float* dgamma) {
  const int64_t L = w.L, d = w.d, d2 = 2 * d;
  float* dqv = w.Z.data();          // [L,d]
  float* dkv = w.Z.data() + L * d;  // [L,d]
  float gsum = 0.f;
  for (int64_t r = 0; r < L; ++r) {
    for (int64_t i = 0; i < d; ++i) {
      const float x1 = w.X[r * d2 + i], x2 = w.X[r * d2 + d + i];
      dqv[r * d + i] = w.w[0] * x1 + w.w[1] * x2;
      dkv[r * d + i] = w.Y[r * d2 + i] + w.Y[r * d2 + d + i];
      gsum += w.q[r * d + i] * (x1 - x2);
    }
  }
  *dgamma += p.scale * gsum;
  store_rows(dqv, p.grad_q, p.qkv_dtype, p, b, h, t0, L, d);
  store_rows(dkv, p.grad_k, p.qkv_dtype, p, b, h, t0, L, d);
  for (int j = 0; j < 2; ++j) {  // reverse cumsum in place into X block j, then store
    std::vector<float> acc(dlam + j * d, dlam + (j + 1) * d);
    for (int64_t r = L - 1; r >= 0; --r) {
      for (int64_t i = 0; i < d; ++i) {
        const int64_t e = r * d2 + j * d + i;
        acc[i] += gate_grad_term(w.q[r * d + i], w.w[j] * w.X[e], w.k[r * d + i], w.Y[e]);
        dqv[r * d + i] = acc[i];
      }
    }
    store_rows(dqv, j == 0 ? p.grad_g1 : p.grad_g2, p.gate_dtype, p, b, h, t0, L, d);
  }
}

// One chunk of the reverse sweep. S0, S1e: states [2d,dv] before and after the chunk; dS [2d,dv] is
// the gradient wrt S1e on entry and wrt S0 on exit.
void chunk_backward(const DslaBwdParams& p, int64_t b, int64_t h, int64_t t0, ChunkWork& w,
                    const float* S0, const float* S1e, float* dS, float* dgamma) {
  const int64_t L = w.L, d2 = 2 * w.d, dv = w.dv;
  std::vector<float> dlam(d2, 0.f);
  for (int64_t i = 0; i < d2; ++i)
    for (int64_t c = 0; c < dv; ++c) dlam[i] += dS[i * dv + c] * S1e[i * dv + c];
  // dP = dO V^T [L,L]; dq_hat/dk from the intra-chunk scores into X, Y.
  gemm(false, true, L, L, dv, 1.f, w.dO.data(), dv, w.v.data(), dv, 0.f, w.dP.data(), L);
  intra_grads(w);
  // X_j += e^{b_j} (dO S0_j^T): Z = dO [L,dv] x S0^T [dv,2d].
  gemm(false, true, L, d2, dv, 1.f, w.dO.data(), dv, S0, dv, 0.f, w.Z.data(), d2);
  for (int64_t e = 0; e < L * d2; ++e) w.X[e] += w.eb[e] * w.Z[e];
  // Y_j += e^{lam_j - b_j} (V dS_j^T): Z = V [L,dv] x dS^T [dv,2d].
  gemm(false, true, L, d2, dv, 1.f, w.v.data(), dv, dS, dv, 0.f, w.Z.data(), d2);
  for (int64_t e = 0; e < L * d2; ++e) w.Y[e] += w.elb[e] * w.Z[e];
  // dv = M^T dO + kg dS  ([L,L]^T [L,dv] + [L,2d] [2d,dv]); o buffer holds dv.
  intra_scores(w);
  gemm(true, false, L, dv, L, 1.f, w.M.data(), L, w.dO.data(), dv, 0.f, w.o.data(), dv);
  gemm(false, false, L, dv, d2, 1.f, w.kg.data(), d2, dS, dv, 1.f, w.o.data(), dv);
  store_rows(w.o.data(), p.grad_v, p.qkv_dtype, p, b, h, t0, L, dv);
  // dS <- e^{lam} dS + qh^T dO   ([2d,L] x [L,dv])
  for (int64_t i = 0; i < d2; ++i) {
    const float a = std::exp(w.lam[i]);
    for (int64_t c = 0; c < dv; ++c) dS[i * dv + c] *= a;
  }
  gemm(true, false, d2, dv, L, 1.f, w.qh.data(), d2, w.dO.data(), dv, 1.f, dS, dv);
  finish_qkg(p, b, h, t0, w, dlam.data(), dgamma);
}

}  // namespace

void dsla_bwd_cpu(const DslaBwdParams& p) {
  const int64_t n = p.d * p.dv, n2 = 2 * n;
  at::parallel_for(0, p.B * p.H, 1, [&](int64_t begin, int64_t end) {
    SerialBlasScope serial_blas;
    ChunkWork w(p.chunk, p.d, p.dv, /*backward=*/true);
    std::vector<float> dS(n2), Sb;
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / p.H, h = bh % p.H, len = seq_len(p.lengths, b, p.T);
      const int64_t nc = (len + p.chunk - 1) / p.chunk;
      Sb.resize((nc + 1) * n2);
      chunk_boundary_states(p, b, h, w, Sb.data());
      for (int j = 0; j < 2; ++j) {
        const float* ds = j == 0 ? p.grad_s1 : p.grad_s2;
        if (ds != nullptr) {
          std::copy_n(ds + bh * n, n, dS.data() + j * n);
        } else {
          std::fill_n(dS.data() + j * n, n, 0.f);
        }
      }
      mix_weights(p.scale, p.gamma[h], &w.w[0], &w.w[1]);
      float dgamma = 0.f;
      for (int64_t c = nc - 1; c >= 0; --c) {
        const int64_t t0 = c * p.chunk, L = std::min(p.chunk, len - t0);
        load_chunk(p, p.grad_o, b, h, t0, L, w);
        build_factors(w);
        chunk_backward(p, b, h, t0, w, Sb.data() + c * n2, Sb.data() + (c + 1) * n2, dS.data(),
                       &dgamma);
      }
      p.grad_gamma_bh[bh] = dgamma;
      std::copy_n(dS.data(), n, p.grad_s1_0 + bh * n);
      std::copy_n(dS.data() + n, n, p.grad_s2_0 + bh * n);
    }
  });
}

}  // namespace dsla::kernels::cpu
