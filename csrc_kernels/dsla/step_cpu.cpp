// Recurrent DSLA step on CPU (decode): updates s1, s2 in place token by token and reads o from
// them.
#include <ATen/Parallel.h>

#include <cmath>
#include <vector>

#include "dsla/chunk_cpu.h"
#include "dsla/dsla_math.h"

namespace dsla::kernels::cpu {

void dsla_step_cpu(const DslaFwdParams& p) {
  const int64_t d = p.d, dv = p.dv, n = d * dv;
  at::parallel_for(0, p.B * p.H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> acc(dv), kv(dv);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / p.H, h = bh % p.H;
      float w1, w2;
      mix_weights(p.scale, p.gamma[h], &w1, &w2);
      float* S1 = p.s1 + bh * n;
      float* S2 = p.s2 + bh * n;
      for (int64_t t = 0; t < p.T; ++t) {
        const int64_t row = (b * p.T + t) * p.H + h;
        for (int64_t j = 0; j < dv; ++j) kv[j] = load_elem(p.v, row * dv + j, p.qkv_dtype);
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t i = 0; i < d; ++i) {
          const float qi = load_elem(p.q, row * d + i, p.qkv_dtype);
          const float ki = load_elem(p.k, row * d + i, p.qkv_dtype);
          const float a1 = std::exp(load_elem(p.g1, row * d + i, p.gate_dtype));
          const float a2 = std::exp(load_elem(p.g2, row * d + i, p.gate_dtype));
          float* s1 = S1 + i * dv;
          float* s2 = S2 + i * dv;
          for (int64_t j = 0; j < dv; ++j) {
            s1[j] = state_step(s1[j], a1, ki, kv[j]);
            s2[j] = state_step(s2[j], a2, ki, kv[j]);
            acc[j] += mixed_read(qi, w1, s1[j], w2, s2[j]);
          }
        }
        for (int64_t j = 0; j < dv; ++j) store_elem(p.o, row * dv + j, p.qkv_dtype, acc[j]);
      }
    }
  });
}

}  // namespace dsla::kernels::cpu
