// Reference DSLA: the plain token-serial recurrence and its hand-derived backward, in fp64 (or
// fp32).
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <vector>

#include "dsla/dsla.h"
#include "dsla/dsla_check.h"
#include "dsla/dsla_math.h"

namespace dsla::kernels {
namespace {

// Contiguous views of the inputs in the reference's scalar type T.
template <typename T>
struct RefInputs {
  at::Tensor q, k, v, g1, g2, gamma, s1_0, s2_0, lengths;
  int64_t B, T_, H, d, dv;
  T scale;
};

template <typename T>
RefInputs<T> make_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                         const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                         const at::Tensor& s1_0, const at::Tensor& s2_0,
                         const at::Tensor& lengths) {
  auto st = std::is_same_v<T, double> ? at::kDouble : at::kFloat;
  auto conv = [&](const at::Tensor& t) {
    return t.defined() ? t.to(at::kCPU, st).contiguous() : at::Tensor();
  };
  RefInputs<T> in;
  in.q = conv(q), in.k = conv(k), in.v = conv(v), in.g1 = conv(g1), in.g2 = conv(g2);
  in.gamma = conv(gamma), in.s1_0 = conv(s1_0), in.s2_0 = conv(s2_0);
  in.lengths = lengths.defined() ? lengths.to(at::kCPU, at::kLong).contiguous() : at::Tensor();
  in.B = q.size(0), in.T_ = q.size(1), in.H = q.size(2), in.d = q.size(3), in.dv = v.size(3);
  in.scale = T(1) / std::sqrt(T(in.d));
  return in;
}

template <typename T>
const T* ptr_or_null(const at::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

// Runs the recurrence for (b,h) over its valid tokens. States S1, S2: [d*dv] in/out. When `o` is
// not null writes o rows; when `trace` is not null stores the states after every token (trace[t] =
// 2*d*dv values).
template <typename T>
void ref_scan(const RefInputs<T>& in, int64_t b, int64_t h, int64_t t0, int64_t t1, T* S1, T* S2,
              T* o, T* trace) {
  const int64_t d = in.d, dv = in.dv, H = in.H;
  const T* q = in.q.template data_ptr<T>();
  const T* k = in.k.template data_ptr<T>();
  const T* v = in.v.template data_ptr<T>();
  const T* g1 = in.g1.template data_ptr<T>();
  const T* g2 = in.g2.template data_ptr<T>();
  T w1, w2;
  mix_weights<T>(in.scale, in.gamma.template data_ptr<T>()[h], &w1, &w2);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t row = (b * in.T_ + t) * H + h;
    const T *qt = q + row * d, *kt = k + row * d, *vt = v + row * dv;
    std::vector<T> acc(dv, T(0));
    for (int64_t i = 0; i < d; ++i) {
      const T a1 = std::exp(g1[row * d + i]), a2 = std::exp(g2[row * d + i]);
      for (int64_t j = 0; j < dv; ++j) {
        T& s1 = S1[i * dv + j];
        T& s2 = S2[i * dv + j];
        s1 = state_step<T>(s1, a1, kt[i], vt[j]);
        s2 = state_step<T>(s2, a2, kt[i], vt[j]);
        acc[j] += mixed_read<T>(qt[i], w1, s1, w2, s2);
      }
    }
    if (o != nullptr) std::copy(acc.begin(), acc.end(), o + row * dv);
    if (trace != nullptr) {
      T* tr = trace + (t - t0) * 2 * d * dv;
      std::copy(S1, S1 + d * dv, tr);
      std::copy(S2, S2 + d * dv, tr + d * dv);
    }
  }
}

template <typename T>
void init_states(const RefInputs<T>& in, int64_t bh, T* S1, T* S2) {
  const int64_t n = in.d * in.dv;
  const T* a = ptr_or_null<T>(in.s1_0);
  const T* c = ptr_or_null<T>(in.s2_0);
  for (int64_t e = 0; e < n; ++e) {
    S1[e] = a ? a[bh * n + e] : T(0);
    S2[e] = c ? c[bh * n + e] : T(0);
  }
}

template <typename T>
DslaOutput ref_forward(const RefInputs<T>& in, bool final_state) {
  auto opt = in.q.options();
  DslaOutput out;
  out.o = at::zeros({in.B, in.T_, in.H, in.dv}, opt);
  at::Tensor s1 = at::empty({in.B, in.H, in.d, in.dv}, opt), s2 = at::empty_like(s1);
  const int64_t n = in.d * in.dv;
  at::parallel_for(0, in.B * in.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / in.H, h = bh % in.H;
      T* S1 = s1.data_ptr<T>() + bh * n;
      T* S2 = s2.data_ptr<T>() + bh * n;
      init_states(in, bh, S1, S2);
      const int64_t len = seq_len(ptr_or_null<int64_t>(in.lengths), b, in.T_);
      ref_scan(in, b, h, 0, len, S1, S2, out.o.data_ptr<T>(), static_cast<T*>(nullptr));
    }
  });
  if (final_state) out.s1 = s1, out.s2 = s2;
  return out;
}

// Reverse sweep for (b,h). Checkpoints every kSeg tokens, recomputes each segment's states, then
// walks it backwards: dS_j += w_j q_t do_t^T; dq_t = sum_j w_j S_j,t do_t; dk_t = (dS1+dS2) v_t;
// dv_t = (dS1+dS2)^T k_t; dg_j,t = a_j,t * rowsum(dS_j * S_j,t-1); dS_j <- a_j,t dS_j.
template <typename T>
void ref_backward_bh(const RefInputs<T>& in, const T* dO, const T* dS1_T, const T* dS2_T,
                     int64_t bh, const std::vector<at::Tensor>& g) {
  constexpr int64_t kSeg = 64;
  const int64_t b = bh / in.H, h = bh % in.H, d = in.d, dv = in.dv, n = d * dv;
  const int64_t len = seq_len(ptr_or_null<int64_t>(in.lengths), b, in.T_);
  const int64_t nseg = (len + kSeg - 1) / kSeg;
  std::vector<T> ckpt((nseg + 1) * 2 * n), trace((kSeg + 1) * 2 * n);
  init_states(in, bh, ckpt.data(), ckpt.data() + n);
  for (int64_t s = 0; s < nseg; ++s) {
    T* next = ckpt.data() + (s + 1) * 2 * n;
    std::copy(ckpt.data() + s * 2 * n, ckpt.data() + (s + 1) * 2 * n, next);
    ref_scan(in, b, h, s * kSeg, std::min(len, (s + 1) * kSeg), next, next + n,
             static_cast<T*>(nullptr), static_cast<T*>(nullptr));
  }
  std::vector<T> dS1(n, T(0)), dS2(n, T(0));
  if (dS1_T) std::copy(dS1_T + bh * n, dS1_T + (bh + 1) * n, dS1.begin());
  if (dS2_T) std::copy(dS2_T + bh * n, dS2_T + (bh + 1) * n, dS2.begin());
  T w1, w2;
  mix_weights<T>(in.scale, in.gamma.template data_ptr<T>()[h], &w1, &w2);
  const T *q = in.q.template data_ptr<T>(), *k = in.k.template data_ptr<T>();
  const T *v = in.v.template data_ptr<T>(), *g1 = in.g1.template data_ptr<T>();
  const T* g2 = in.g2.template data_ptr<T>();
  T *dq = g[0].data_ptr<T>(), *dk = g[1].data_ptr<T>(), *dvv = g[2].data_ptr<T>();
  T *dg1 = g[3].data_ptr<T>(), *dg2 = g[4].data_ptr<T>(), *dgam = g[5].data_ptr<T>();
  for (int64_t s = nseg - 1; s >= 0; --s) {
    const int64_t t0 = s * kSeg, t1 = std::min(len, (s + 1) * kSeg);
    std::copy(ckpt.data() + s * 2 * n, ckpt.data() + (s + 1) * 2 * n, trace.begin());
    std::vector<T> S1(trace.begin(), trace.begin() + n),
        S2(trace.begin() + n, trace.begin() + 2 * n);
    ref_scan(in, b, h, t0, t1, S1.data(), S2.data(), static_cast<T*>(nullptr),
             trace.data() + 2 * n);
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const int64_t row = (b * in.T_ + t) * in.H + h;
      const T* cur = trace.data() + (t - t0 + 1) * 2 * n;  // states after token t
      const T* prev = trace.data() + (t - t0) * 2 * n;     // states before token t
      const T *qt = q + row * d, *kt = k + row * d, *vt = v + row * dv, *dot = dO + row * dv;
      for (int64_t i = 0; i < d; ++i) {
        const T a1 = std::exp(g1[row * d + i]), a2 = std::exp(g2[row * d + i]);
        T dqi = 0, dki = 0, r1 = 0, r2 = 0, gm = 0;
        for (int64_t j = 0; j < dv; ++j) {
          const int64_t e = i * dv + j;
          dS1[e] += w1 * qt[i] * dot[j];
          dS2[e] += w2 * qt[i] * dot[j];
          dqi += (w1 * cur[e] + w2 * cur[n + e]) * dot[j];
          gm += qt[i] * (cur[e] - cur[n + e]) * dot[j];
          dki += (dS1[e] + dS2[e]) * vt[j];
          dvv[row * dv + j] += (dS1[e] + dS2[e]) * kt[i];
          r1 += dS1[e] * prev[e];
          r2 += dS2[e] * prev[n + e];
          dS1[e] *= a1;
          dS2[e] *= a2;
        }
        dq[row * d + i] = dqi, dk[row * d + i] = dki;
        dg1[row * d + i] = a1 * r1, dg2[row * d + i] = a2 * r2;
        dgam[bh] += in.scale * gm;
      }
    }
  }
  std::copy(dS1.begin(), dS1.end(), g[6].data_ptr<T>() + bh * n);
  std::copy(dS2.begin(), dS2.end(), g[7].data_ptr<T>() + bh * n);
}

template <typename T>
DslaGrads ref_backward(const RefInputs<T>& in, const at::Tensor& do_, const at::Tensor& ds1,
                       const at::Tensor& ds2) {
  auto st = in.q.scalar_type();
  at::Tensor dO = do_.to(at::kCPU, st).contiguous();
  at::Tensor dS1 = ds1.defined() ? ds1.to(at::kCPU, st).contiguous() : at::Tensor();
  at::Tensor dS2 = ds2.defined() ? ds2.to(at::kCPU, st).contiguous() : at::Tensor();
  std::vector<at::Tensor> g = {at::zeros_like(in.q),
                               at::zeros_like(in.k),
                               at::zeros_like(in.v),
                               at::zeros_like(in.g1),
                               at::zeros_like(in.g2),
                               at::zeros({in.B * in.H}, in.q.options()),
                               at::zeros({in.B, in.H, in.d, in.dv}, in.q.options()),
                               at::zeros({in.B, in.H, in.d, in.dv}, in.q.options())};
  at::parallel_for(0, in.B * in.H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t bh = begin; bh < end; ++bh) {
      ref_backward_bh(in, dO.data_ptr<T>(), ptr_or_null<T>(dS1), ptr_or_null<T>(dS2), bh, g);
    }
  });
  DslaGrads out{g[0], g[1], g[2], g[3], g[4], g[5].view({in.B, in.H}).sum(0), g[6], g[7]};
  return out;
}

}  // namespace

DslaOutput dsla_forward_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                            const at::Tensor& s1_0, const at::Tensor& s2_0,
                            const at::Tensor& lengths, bool output_final_state) {
  check_dsla_inputs(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, /*allow_f64=*/true);
  if (q.scalar_type() == at::kDouble) {
    return ref_forward(make_inputs<double>(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths),
                       output_final_state);
  }
  return ref_forward(make_inputs<float>(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths),
                     output_final_state);
}

DslaGrads dsla_backward_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                            const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                            const at::Tensor& s1_0, const at::Tensor& s2_0,
                            const at::Tensor& lengths, const at::Tensor& do_, const at::Tensor& ds1,
                            const at::Tensor& ds2) {
  check_dsla_inputs(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, /*allow_f64=*/true);
  if (q.scalar_type() == at::kDouble) {
    return ref_backward(make_inputs<double>(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths), do_, ds1,
                        ds2);
  }
  return ref_backward(make_inputs<float>(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths), do_, ds1,
                      ds2);
}

}  // namespace dsla::kernels
