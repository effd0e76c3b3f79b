// dsla_attention: the torch::autograd::Function over the chunked / recurrent / reference kernels.
#include <torch/autograd.h>

#include "core/error.h"
#include "dsla/dsla.h"

namespace dsla::kernels {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Forward through the selected kernel; returns {o, s1, s2} (final states always computed here).
DslaOutput run_forward(const variable_list& in, const at::Tensor& lengths, const DslaOptions& o) {
  const at::Tensor &q = in[0], &k = in[1], &v = in[2], &g1 = in[3], &g2 = in[4], &gamma = in[5];
  const at::Tensor &s1_0 = in[6], &s2_0 = in[7];
  switch (o.kernel) {
    case DslaKernel::kRef: {
      DSLA_CHECK(q.is_cpu(), "dsla: kernel=ref runs on CPU tensors only, got {}", q.device().str());
      DslaOutput r = dsla_forward_ref(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, true);
      r.o = r.o.to(v.scalar_type());
      return r;
    }
    case DslaKernel::kRecurrent: {
      DSLA_CHECK(!lengths.defined(), "dsla: kernel=recurrent does not take lengths; use chunked");
      auto f32 = q.options().dtype(at::kFloat);
      const int64_t B = q.size(0), H = q.size(2), d = q.size(3), dv = v.size(3);
      DslaOutput r;
      r.s1 =
          s1_0.defined() ? s1_0.clone(at::MemoryFormat::Contiguous) : at::zeros({B, H, d, dv}, f32);
      r.s2 =
          s2_0.defined() ? s2_0.clone(at::MemoryFormat::Contiguous) : at::zeros({B, H, d, dv}, f32);
      r.o = dsla_recurrent_step(q, k, v, g1, g2, gamma, r.s1, r.s2);
      return r;
    }
    case DslaKernel::kAuto:  // resolved before the Function runs
    case DslaKernel::kAten:
    case DslaKernel::kChunked:
      return dsla_forward_chunked(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, o.chunk_size, true);
  }
  DSLA_FAIL("dsla: unknown kernel {}", static_cast<int>(o.kernel));
}

struct DslaFunction : public torch::autograd::Function<DslaFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                               const at::Tensor& v, const at::Tensor& g1, const at::Tensor& g2,
                               const at::Tensor& gamma, const std::optional<at::Tensor>& s1_opt,
                               const std::optional<at::Tensor>& s2_opt,
                               const std::optional<at::Tensor>& len_opt, const DslaOptions& opts) {
    const at::Tensor s1_0 = s1_opt.value_or(at::Tensor()), s2_0 = s2_opt.value_or(at::Tensor());
    const at::Tensor lengths = len_opt.value_or(at::Tensor());
    ctx->save_for_backward({q, k, v, g1, g2, gamma, s1_0, s2_0, lengths});
    ctx->saved_data["chunk"] = opts.chunk_size;
    ctx->saved_data["ref"] = opts.kernel == DslaKernel::kRef;
    DslaOutput r = run_forward({q, k, v, g1, g2, gamma, s1_0, s2_0}, lengths, opts);
    return {r.o, r.s1, r.s2};
  }

  // grads: {do [B,T,H,dv], ds1, ds2 (undefined when the final states were unused)}.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto s = ctx->get_saved_variables();
    const at::Tensor &q = s[0], &k = s[1], &v = s[2], &g1 = s[3], &g2 = s[4], &gamma = s[5];
    const at::Tensor &s1_0 = s[6], &s2_0 = s[7], &lengths = s[8];
    at::Tensor dO = grads[0].defined() ? grads[0] : at::zeros_like(v);
    DslaGrads g;
    if (ctx->saved_data["ref"].toBool()) {
      g = dsla_backward_ref(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, dO, grads[1], grads[2]);
    } else {
      at::Tensor ds1 = grads[1].defined() ? grads[1].to(at::kFloat) : at::Tensor();
      at::Tensor ds2 = grads[2].defined() ? grads[2].to(at::kFloat) : at::Tensor();
      g = dsla_backward_chunked(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, dO, ds1, ds2,
                                ctx->saved_data["chunk"].toInt());
    }
    auto as = [](const at::Tensor& grad, const at::Tensor& like) {
      return grad.defined() && like.defined() ? grad.to(like.scalar_type()) : at::Tensor();
    };
    return {as(g.dq, q),         as(g.dk, k),       as(g.dv, v),       as(g.dg1, g1), as(g.dg2, g2),
            as(g.dgamma, gamma), as(g.ds1_0, s1_0), as(g.ds2_0, s2_0), at::Tensor(),  at::Tensor()};
  }
};

}  // namespace

DslaOutput dsla_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                          const at::Tensor& g1, const at::Tensor& g2, const at::Tensor& gamma,
                          const at::Tensor& s1_0, const at::Tensor& s2_0, const at::Tensor& lengths,
                          const DslaOptions& opts) {
  // Absent optional tensors go in as nullopt: autograd records undefined Tensors as inputs
  // otherwise.
  auto opt = [](const at::Tensor& t) {
    return t.defined() ? std::optional<at::Tensor>(t) : std::optional<at::Tensor>();
  };
  DslaOptions resolved = opts;
  resolved.kernel = resolve_kernel(opts.kernel, q.device());
  if (resolved.kernel == DslaKernel::kAten) {  // differentiable as it stands
    return dsla_forward_aten(q, k, v, g1, g2, gamma, s1_0, s2_0, lengths, opts.chunk_size,
                             opts.output_final_state);
  }
  variable_list r =
      DslaFunction::apply(q, k, v, g1, g2, gamma, opt(s1_0), opt(s2_0), opt(lengths), resolved);
  DslaOutput out;
  out.o = r[0];
  if (opts.output_final_state) out.s1 = r[1], out.s2 = r[2];
  return out;
}

}  // namespace dsla::kernels
