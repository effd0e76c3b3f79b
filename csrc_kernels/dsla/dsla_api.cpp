// The tensor boundary of the DSLA kernels: checks, contiguity, POD params, CPU/CUDA routing.
#include <ATen/ATen.h>

#include <cmath>

#include "core/error.h"
#include "dsla/chunk_cpu.h"
#include "dsla/dsla.h"
#include "dsla/dsla_check.h"
#include "dsla/dsla_device.h"

namespace dsla::kernels {
namespace {

std::string sz(at::IntArrayRef s) {
  return c10::str(s);
}
const char* ty(const at::Tensor& t) {
  return c10::toString(t.scalar_type());
}

bool is_float_type(const at::Tensor& t, bool allow_f64) {
  auto s = t.scalar_type();
  return s == at::kFloat || s == at::kBFloat16 || (allow_f64 && s == at::kDouble);
}

void check_state(const at::Tensor& s, const char* name, const at::Tensor& q, const at::Tensor& v,
                 bool allow_f64) {
  if (!s.defined()) return;
  DSLA_CHECK(s.dim() == 4 && s.size(0) == q.size(0) && s.size(1) == q.size(2) &&
                 s.size(2) == q.size(3) && s.size(3) == v.size(3),
             "dsla: {} must be [B,H,d,dv] = [{},{},{},{}], got {}", name, q.size(0), q.size(2),
             q.size(3), v.size(3), sz(s.sizes()));
  DSLA_CHECK(s.scalar_type() == at::kFloat || (allow_f64 && s.scalar_type() == at::kDouble),
             "dsla: {} must be float32 (states are fp32), got {}", name, ty(s));
  DSLA_CHECK(s.device() == q.device(), "dsla: {} is on {} but q is on {}", name, s.device().str(),
             q.device().str());
}

DslaDtype dtype_of(const at::Tensor& t) {
  return t.scalar_type() == at::kBFloat16 ? DslaDtype::kBF16 : DslaDtype::kF32;
}

// Contiguous device copies of everything the kernels read, kept alive while the params point into
// them.
struct Prepared {
  at::Tensor q, k, v, g1, g2, gamma, s1_0, s2_0, lengths;
};

Prepared prepare(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                 const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                 const at::Tensor& s1_0, const at::Tensor& s2_0, const at::Tensor& lengths,
                 DslaFwdParams& p) {
  Prepared r;
  r.q = q.contiguous(), r.k = k.contiguous(), r.v = v.contiguous();
  r.g1 = g1.contiguous(), r.g2 = g2.contiguous();
  r.gamma = gamma.to(at::kFloat).contiguous();
  if (s1_0.defined()) r.s1_0 = s1_0.contiguous();
  if (s2_0.defined()) r.s2_0 = s2_0.contiguous();
  if (lengths.defined()) r.lengths = lengths.to(q.device(), at::kLong).contiguous();
  p.q = r.q.data_ptr(), p.k = r.k.data_ptr(), p.v = r.v.data_ptr();
  p.g1 = r.g1.data_ptr(), p.g2 = r.g2.data_ptr();
  p.qkv_dtype = dtype_of(q), p.gate_dtype = dtype_of(g1);
  p.gamma = r.gamma.data_ptr<float>();
  p.s1_0 = r.s1_0.defined() ? r.s1_0.data_ptr<float>() : nullptr;
  p.s2_0 = r.s2_0.defined() ? r.s2_0.data_ptr<float>() : nullptr;
  p.lengths = r.lengths.defined() ? r.lengths.data_ptr<int64_t>() : nullptr;
  p.B = q.size(0), p.T = q.size(1), p.H = q.size(2), p.d = q.size(3), p.dv = v.size(3);
  p.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(p.d)));
  return r;
}

}  // namespace

void check_dsla_inputs(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                       const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                       const at::Tensor& s1_0, const at::Tensor& s2_0, const at::Tensor& lengths,
                       bool allow_f64) {
  DSLA_CHECK(
      q.defined() && k.defined() && v.defined() && g1.defined() && g2.defined() && gamma.defined(),
      "dsla: q, k, v, g1, g2 and gamma are required");
  DSLA_CHECK(q.dim() == 4, "dsla: q must be [B,T,H,d], got {}", sz(q.sizes()));
  DSLA_CHECK(q.size(3) > 0, "dsla: head dim d must be positive, got {}", sz(q.sizes()));
  for (auto [t, name] : {std::pair{&k, "k"}, {&g1, "g1"}, {&g2, "g2"}}) {
    DSLA_CHECK(t->sizes() == q.sizes(), "dsla: {} must have q's shape {}, got {}", name,
               sz(q.sizes()), sz(t->sizes()));
  }
  DSLA_CHECK(v.dim() == 4 && v.size(0) == q.size(0) && v.size(1) == q.size(1) &&
                 v.size(2) == q.size(2) && v.size(3) > 0,
             "dsla: v must be [B,T,H,dv] with q's B,T,H = {}, got {}", sz(q.sizes()),
             sz(v.sizes()));
  DSLA_CHECK(gamma.dim() == 1 && gamma.size(0) == q.size(2), "dsla: gamma must be [H={}], got {}",
             q.size(2), sz(gamma.sizes()));
  DSLA_CHECK(is_float_type(q, allow_f64) && k.scalar_type() == q.scalar_type() &&
                 v.scalar_type() == q.scalar_type(),
             "dsla: q, k, v must share one dtype among float32/bfloat16{}, got {}, {}, {}",
             allow_f64 ? "/float64" : "", ty(q), ty(k), ty(v));
  DSLA_CHECK(is_float_type(g1, allow_f64) && g2.scalar_type() == g1.scalar_type(),
             "dsla: g1, g2 must share one dtype among float32/bfloat16, got {}, {}", ty(g1),
             ty(g2));
  for (auto [t, name] :
       {std::pair{&k, "k"}, {&v, "v"}, {&g1, "g1"}, {&g2, "g2"}, {&gamma, "gamma"}}) {
    DSLA_CHECK(t->device() == q.device(), "dsla: {} is on {} but q is on {}", name,
               t->device().str(), q.device().str());
  }
  check_state(s1_0, "s1_0", q, v, allow_f64);
  check_state(s2_0, "s2_0", q, v, allow_f64);
  if (lengths.defined()) {
    DSLA_CHECK(lengths.dim() == 1 && lengths.size(0) == q.size(0) &&
                   !at::isFloatingType(lengths.scalar_type()),
               "dsla: lengths must be an integer [B={}] tensor, got {} {}", q.size(0), ty(lengths),
               sz(lengths.sizes()));
  }
}

DslaOutput dsla_forward_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                                const at::Tensor& s1_0, const at::Tensor& s2_0,
                                const at::Tensor& lengths, int64_t chunk_size,
                                bool output_final_state) {
  check_dsla_inputs(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, /*allow_f64=*/false);
  DSLA_CHECK(chunk_size >= 1, "dsla: chunk_size must be >= 1, got {}", chunk_size);
  DslaFwdParams p;
  Prepared keep = prepare(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, p);
  p.chunk = chunk_size;
  DslaOutput out;
  out.o = at::zeros(v.sizes(), v.options());  // [B,T,H,dv]; padded rows stay 0
  at::Tensor s1 = at::empty({p.B, p.H, p.d, p.dv}, q.options().dtype(at::kFloat));
  at::Tensor s2 = at::empty_like(s1);
  p.o = out.o.data_ptr(), p.s1 = s1.data_ptr<float>(), p.s2 = s2.data_ptr<float>();
  if (q.is_cuda()) {
    run_fwd_cuda(p, q);
  } else {
    DSLA_CHECK(q.is_cpu(), "dsla: unsupported device {}", q.device().str());
    cpu::dsla_fwd_cpu(p);
  }
  if (output_final_state) out.s1 = s1, out.s2 = s2;
  return out;
}

DslaGrads dsla_backward_chunked(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                                const at::Tensor& s1_0, const at::Tensor& s2_0,
                                const at::Tensor& lengths, const at::Tensor& do_,
                                const at::Tensor& ds1, const at::Tensor& ds2, int64_t chunk_size) {
  check_dsla_inputs(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, /*allow_f64=*/false);
  DSLA_CHECK(chunk_size >= 1, "dsla: chunk_size must be >= 1, got {}", chunk_size);
  DSLA_CHECK(do_.defined() && do_.sizes() == v.sizes(), "dsla: do must be [B,T,H,dv] = {}, got {}",
             sz(v.sizes()), do_.defined() ? sz(do_.sizes()) : std::string("undefined"));
  check_state(ds1, "ds1", q, v, false);
  check_state(ds2, "ds2", q, v, false);
  DslaBwdParams p;
  Prepared keep = prepare(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, p);
  p.chunk = chunk_size;
  at::Tensor dO = do_.to(q.scalar_type()).contiguous();
  at::Tensor dS1 = ds1.defined() ? ds1.contiguous() : at::Tensor();
  at::Tensor dS2 = ds2.defined() ? ds2.contiguous() : at::Tensor();
  p.grad_o = dO.data_ptr();
  p.grad_s1 = dS1.defined() ? dS1.data_ptr<float>() : nullptr;
  p.grad_s2 = dS2.defined() ? dS2.data_ptr<float>() : nullptr;
  DslaGrads g;
  g.dq = at::zeros_like(keep.q), g.dk = at::zeros_like(keep.k), g.dv = at::zeros_like(keep.v);
  g.dg1 = at::zeros_like(keep.g1), g.dg2 = at::zeros_like(keep.g2);
  auto f32 = q.options().dtype(at::kFloat);
  at::Tensor dgamma_bh = at::zeros({p.B, p.H}, f32);
  at::Tensor ds1_0 = at::empty({p.B, p.H, p.d, p.dv}, f32), ds2_0 = at::empty_like(ds1_0);
  p.grad_q = g.dq.data_ptr(), p.grad_k = g.dk.data_ptr(), p.grad_v = g.dv.data_ptr();
  p.grad_g1 = g.dg1.data_ptr(), p.grad_g2 = g.dg2.data_ptr();
  p.grad_gamma_bh = dgamma_bh.data_ptr<float>();
  p.grad_s1_0 = ds1_0.data_ptr<float>(), p.grad_s2_0 = ds2_0.data_ptr<float>();
  if (q.is_cuda()) {
    run_bwd_cuda(p, q);
  } else {
    cpu::dsla_bwd_cpu(p);
  }
  g.dgamma = dgamma_bh.sum(0).to(gamma.scalar_type());
  if (s1_0.defined()) g.ds1_0 = ds1_0;
  if (s2_0.defined()) g.ds2_0 = ds2_0;
  return g;
}

at::Tensor dsla_recurrent_step(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                               at::Tensor& s1, at::Tensor& s2) {
  if (resolve_kernel(DslaKernel::kAuto, q.device()) == DslaKernel::kAten) {
    return dsla_step_aten(q, k, v, g1, g2, gamma, s1, s2);  // checks its arguments itself
  }
  check_dsla_inputs(q, k, v, g1, g2, gamma, s1, s2, at::Tensor(), /*allow_f64=*/false);
  DSLA_CHECK(s1.defined() && s2.defined(), "dsla: the decode step needs both states s1, s2");
  DSLA_CHECK(s1.is_contiguous() && s2.is_contiguous(),
             "dsla: the decode step updates s1, s2 in place; they must be contiguous");
  DslaFwdParams p;
  Prepared keep = prepare(q, k, v, g1, g2, gamma, at::Tensor(), at::Tensor(), at::Tensor(), p);
  at::Tensor o = at::empty(v.sizes(), v.options());  // [B,T_new,H,dv]
  p.o = o.data_ptr(), p.s1 = s1.data_ptr<float>(), p.s2 = s2.data_ptr<float>();
  if (q.is_cuda()) {
    run_step_cuda(p, q);
  } else {
    cpu::dsla_step_cpu(p);
  }
  return o;
}

}  // namespace dsla::kernels
