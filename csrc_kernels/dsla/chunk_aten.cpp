// Portable chunked DSLA in ATen ops: runs on any device, differentiable by ATen's autograd.
//
// The same chunked algorithm as the CPU kernels (README.md), written as batched tensor ops over
// all (batch, head, chunk) at once, with both states stacked on the key-channel axis (2d rows):
//   inter-chunk:  o += [w1 q e^b1 | w2 q e^b2] S_n               (S_n: state at the chunk's start)
//   intra-chunk:  o += tril(sum_i q_ri k_ui e^(b_ri - b_ui)) V   (both states summed over 2d)
//   state:        S_n+1 = e^lam S_n + [k e^(lam - b)]^T V
// b is the gates' cumulative sum inside a chunk, lam its last row. The intra-chunk scores never
// factor e^(b_r - b_u) into a growing and a shrinking exponential across the whole chunk (that
// overflows under decays near e^-50): keys in an earlier sub-chunk of SUB rows go through the
// query sub-chunk's first row, e^(b_r - b_s) e^(b_s - b_u) with both exponents <= 0 (as
// flash-linear-attention's chunk_gla does), and the diagonal sub-chunks take e^(b_r - b_u) per
// element. Every exponent that is evaluated is <= 0, so any decay is safe.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"
#include "dsla/dsla.h"
#include "dsla/dsla_check.h"

namespace dsla::kernels {
namespace {

constexpr int64_t kSubChunk = 16;  // rows of a diagonal block computed element by element

/// [B, T, H, X] -> [B, H, N, C, X] after zero-padding T to N * C.
at::Tensor to_chunks(const at::Tensor& x, int64_t chunk) {
  int64_t B = x.size(0), T = x.size(1), H = x.size(2), X = x.size(3);
  int64_t N = (T + chunk - 1) / chunk;
  at::Tensor padded = at::constant_pad_nd(x, {0, 0, 0, 0, 0, N * chunk - T});
  return padded.view({B, N, chunk, H, X}).permute({0, 3, 1, 2, 4});
}

/// [B, H, N, C, X] -> [B, T, H, X].
at::Tensor from_chunks(const at::Tensor& x, int64_t T) {
  int64_t B = x.size(0), H = x.size(1), X = x.size(4);
  return x.permute({0, 2, 3, 1, 4}).reshape({B, -1, H, X}).narrow(1, 0, T);
}

/// e^x where keep is true, 0 elsewhere; x is never exponentiated where keep is false.
at::Tensor masked_exp(const at::Tensor& x, const at::Tensor& keep) {
  return at::exp(x.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity()));
}

/// Intra-chunk scores A[r, u] = sum_i qw_ri k_ui e^(b_ri - b_ui) for u <= r, over [.., C, C].
/// qw, k, b: [B, H, N, C, F] (F = 2d, both states; qw carries the mix weights).
at::Tensor intra_scores(const at::Tensor& qw, const at::Tensor& k, const at::Tensor& b) {
  int64_t C = qw.size(3), F = qw.size(4);
  int64_t sub = C % kSubChunk == 0 ? kSubChunk : C, P = C / sub;
  auto lead = qw.sizes().slice(0, 3).vec();  // [B, H, N]
  auto blocks = [&](const at::Tensor& x) {   // [.., C, F] -> [.., P, sub, F]
    auto s = lead;
    s.insert(s.end(), {P, sub, F});
    return x.reshape(s);
  };
  at::Tensor qb = blocks(qw), kb = blocks(k), bb = blocks(b);
  auto opts = qw.options().dtype(at::kBool);
  // Diagonal blocks: [.., P, sub(r), sub(u), F] decays, u <= r.
  at::Tensor tril = at::ones({sub, sub}, opts).tril().view({sub, sub, 1});
  at::Tensor decay = masked_exp(bb.unsqueeze(-2) - bb.unsqueeze(-3), tril);
  at::Tensor diag = at::einsum("...ri,...ui,...rui->...ru", {qb, kb, decay});  // [.., P, sub, sub]
  // Block-diagonal [.., C, C]: diag[p, r, u] at rows p*sub + r, columns p*sub + u.
  at::Tensor eye = at::eye(P, qw.options());
  at::Tensor scores = at::einsum("...prj,pq->...prqj", {diag, eye});
  auto full = lead;
  full.insert(full.end(), {C, C});
  scores = scores.reshape(full);
  if (P == 1) return scores;
  // Earlier sub-chunks: through b at the first row s of the query's sub-chunk p, for u < s.
  at::Tensor ref = bb.select(-2, 0);                           // [.., P, F]
  at::Tensor q_to_ref = qb * at::exp(bb - ref.unsqueeze(-2));  // [.., P, sub, F]
  at::Tensor before = at::arange(C, qw.options().dtype(at::kLong)).view({1, C}) <
                      (at::arange(P, qw.options().dtype(at::kLong)) * sub).view({P, 1});  // [P, C]
  at::Tensor ref_to_k =
      k.unsqueeze(-3) * masked_exp(ref.unsqueeze(-2) - b.unsqueeze(-3), before.unsqueeze(-1));
  at::Tensor off = at::matmul(q_to_ref, ref_to_k.transpose(-1, -2));  // [.., P, sub, C]
  return scores + off.reshape(full);
}

}  // namespace

DslaOutput dsla_forward_aten(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                             const at::Tensor& s1_0, const at::Tensor& s2_0,
                             const at::Tensor& lengths, int64_t chunk_size,
                             bool output_final_state) {
  check_dsla_inputs(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, /*allow_f64=*/true);
  DSLA_CHECK(chunk_size >= 1, "dsla: chunk_size must be >= 1, got {}", chunk_size);
  at::ScalarType acc = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const int64_t B = q.size(0), T = q.size(1), H = q.size(2), d = q.size(3), dv = v.size(3);
  const int64_t C = std::min(chunk_size, std::max<int64_t>(T, 1));
  auto f = [&](const at::Tensor& t) { return t.to(acc); };
  at::Tensor qf = f(q), kf = f(k), vf = f(v), a1 = f(g1), a2 = f(g2);
  at::Tensor valid;  // [B, T, 1, 1]: positions past a sequence's length neither read nor write
  if (lengths.defined()) {
    at::Tensor t = at::arange(T, lengths.options().dtype(at::kLong).device(q.device()));
    valid = (t.view({1, T}) < lengths.to(q.device(), at::kLong).view({B, 1})).view({B, T, 1, 1});
    at::Tensor m = valid.to(acc);
    kf = kf * m, vf = vf * m, a1 = a1 * m, a2 = a2 * m;
  }
  double scale = 1.0 / std::sqrt(static_cast<double>(d));
  at::Tensor mix = f(gamma).view({1, H, 1, 1, 1});
  at::Tensor qc = to_chunks(qf, C), kc = to_chunks(kf, C), vc = to_chunks(vf, C);  // [B,H,N,C,.]
  at::Tensor b = at::cat({to_chunks(a1, C).cumsum(3), to_chunks(a2, C).cumsum(3)}, -1);  // 2d
  at::Tensor lam = b.select(3, C - 1);  // [B,H,N,2d]
  at::Tensor qw = at::cat({qc * (scale * mix), qc * (scale * (1 - mix))}, -1);
  at::Tensor k2 = at::cat({kc, kc}, -1);
  // Chunk contributions to the state, then the scan over chunks: S_n for n = 0 .. N.
  at::Tensor writes = at::matmul((k2 * at::exp(lam.unsqueeze(3) - b)).transpose(-1, -2), vc);
  at::Tensor keep = at::exp(lam).unsqueeze(-1);  // [B,H,N,2d,1]
  auto state_opts = q.options().dtype(acc);
  at::Tensor s = at::cat({s1_0.defined() ? f(s1_0) : at::zeros({B, H, d, dv}, state_opts),
                          s2_0.defined() ? f(s2_0) : at::zeros({B, H, d, dv}, state_opts)},
                         2);  // [B,H,2d,dv]
  std::vector<at::Tensor> starts;
  for (int64_t n = 0; n < qc.size(2); ++n) {
    starts.push_back(s);
    s = keep.select(2, n) * s + writes.select(2, n);
  }
  at::Tensor o = at::matmul(qw * at::exp(b), at::stack(starts, 2));  // [B,H,N,C,dv]
  o = o + at::matmul(intra_scores(qw, k2, b), vc);
  o = from_chunks(o, T);
  if (valid.defined()) o = o * valid.to(acc);
  DslaOutput out;
  out.o = acc == at::kDouble ? o : o.to(v.scalar_type());
  if (output_final_state) {
    out.s1 = s.narrow(2, 0, d);
    out.s2 = s.narrow(2, d, d);
  }
  return out;
}

at::Tensor dsla_step_aten(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                          at::Tensor& s1, at::Tensor& s2) {
  check_dsla_inputs(q, k, v, g1, g2, gamma, s1, s2, at::Tensor(), /*allow_f64=*/false);
  DSLA_CHECK(s1.defined() && s2.defined(), "dsla: the decode step needs both states s1, s2");
  const int64_t H = q.size(2);
  double scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  at::Tensor mix = gamma.to(at::kFloat).view({1, H, 1, 1});
  std::vector<at::Tensor> outs;
  for (int64_t t = 0; t < q.size(1); ++t) {
    auto row = [&](const at::Tensor& x) { return x.select(1, t).to(at::kFloat); };  // [B,H,X]
    at::Tensor kt = row(k).unsqueeze(-1), vt = row(v).unsqueeze(-2), qt = row(q).unsqueeze(-2);
    at::Tensor write = kt * vt;  // [B,H,d,dv]
    s1.mul_(at::exp(row(g1)).unsqueeze(-1)).add_(write);
    s2.mul_(at::exp(row(g2)).unsqueeze(-1)).add_(write);
    at::Tensor o = at::matmul(qt, s1) * (scale * mix) + at::matmul(qt, s2) * (scale * (1 - mix));
    outs.push_back(o.squeeze(-2));  // [B,H,dv]
  }
  return at::stack(outs, 1).to(v.scalar_type());  // [B,T_new,H,dv]
}

}  // namespace dsla::kernels
