// CUDA DSLA kernels: token-serial scans, one block per (b,h), one thread per value column; no torch
// types. The per-element math (state step, output read, bf16 conversion, weights) is dsla_math.h,
// shared with the CPU path and the reference.
#include <cuda_runtime.h>

#include "dsla/dsla_cuda.h"
#include "dsla/dsla_math.h"

namespace dsla::kernels::cuda {
namespace {

constexpr int64_t kSeg = 64;  // backward checkpoint interval (tokens)

__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

int block_threads(int64_t dv) {
  return static_cast<int>(((dv + 31) / 32) * 32);
}

// Stages q, k, exp(g1), exp(g2) of one token row into shared memory sh[4d].
__device__ void stage_token(const DslaFwdParams& p, int64_t row, float* sh) {
  for (int64_t i = threadIdx.x; i < p.d; i += blockDim.x) {
    sh[i] = load_elem(p.q, row * p.d + i, p.qkv_dtype);
    sh[p.d + i] = load_elem(p.k, row * p.d + i, p.qkv_dtype);
    sh[2 * p.d + i] = expf(load_elem(p.g1, row * p.d + i, p.gate_dtype));
    sh[3 * p.d + i] = expf(load_elem(p.g2, row * p.d + i, p.gate_dtype));
  }
}

// Advances column j of S1, S2 ([d,dv] each) over tokens [t0,t1) of (b,h); writes o when o != null
// and the states after each token into trace[(t-t0+1)] ([2][d][dv] slabs) when trace != null.
__device__ void scan(const DslaFwdParams& p, int64_t b, int64_t h, int64_t t0, int64_t t1,
                     float* S1, float* S2, void* o, float* trace, float* sh) {
  const int64_t j = threadIdx.x, d = p.d, dv = p.dv, n = d * dv;
  const bool active = j < dv;
  float w1, w2;
  mix_weights(p.scale, p.gamma[h], &w1, &w2);
  for (int64_t t = t0; t < t1; ++t) {
    const int64_t row = (b * p.T + t) * p.H + h;
    __syncthreads();
    stage_token(p, row, sh);
    __syncthreads();
    if (!active) continue;
    const float vj = load_elem(p.v, row * dv + j, p.qkv_dtype);
    float acc = 0.f;
    for (int64_t i = 0; i < d; ++i) {
      const float s1 = state_step(S1[i * dv + j], sh[2 * d + i], sh[d + i], vj);
      const float s2 = state_step(S2[i * dv + j], sh[3 * d + i], sh[d + i], vj);
      S1[i * dv + j] = s1, S2[i * dv + j] = s2;
      acc += mixed_read(sh[i], w1, s1, w2, s2);
      if (trace != nullptr) {
        trace[(t - t0 + 1) * 2 * n + i * dv + j] = s1;
        trace[(t - t0 + 1) * 2 * n + n + i * dv + j] = s2;
      }
    }
    if (o != nullptr) store_elem(o, row * dv + j, p.qkv_dtype, acc);
  }
}

// Copies column j of two [d,dv] states (src null = zeros).
__device__ void copy_col(const DslaFwdParams& p, const float* src1, const float* src2, float* S1,
                         float* S2) {
  const int64_t j = threadIdx.x;
  if (j >= p.dv) return;
  for (int64_t i = 0; i < p.d; ++i) {
    S1[i * p.dv + j] = src1 ? src1[i * p.dv + j] : 0.f;
    S2[i * p.dv + j] = src2 ? src2[i * p.dv + j] : 0.f;
  }
}

__global__ void fwd_kernel(DslaFwdParams p, bool init) {
  extern __shared__ float sh[];
  const int64_t bh = blockIdx.x, b = bh / p.H, h = bh % p.H, n = p.d * p.dv;
  float* S1 = p.s1 + bh * n;
  float* S2 = p.s2 + bh * n;
  if (init)
    copy_col(p, p.s1_0 ? p.s1_0 + bh * n : nullptr, p.s2_0 ? p.s2_0 + bh * n : nullptr, S1, S2);
  scan(p, b, h, 0, seq_len(p.lengths, b, p.T), S1, S2, p.o, nullptr, sh);
}

// Per-(b,h) workspace of the backward: checkpoints [nseg_max+1][2][n], trace [kSeg+1][2][n], dS
// [2][n].
__host__ __device__ int64_t bwd_ws_per_bh(const DslaFwdParams& p) {
  const int64_t n = p.d * p.dv, nseg = (p.T + kSeg - 1) / kSeg;
  return (nseg + 1) * 2 * n + (kSeg + 1) * 2 * n + 2 * n;
}

// Reverse sweep of token t for column j (see dsla_ref.cpp for the recurrence): dS += w q do^T, then
// dq, dk, dg reduce over columns into red[4d] (warp sums + shared atomics), dv stays per column.
__device__ void bwd_token(const DslaBwdParams& p, int64_t row, const float* cur, const float* prev,
                          float* dS, float* sh, float* red, float w1, float w2, float* gm) {
  const int64_t j = threadIdx.x, d = p.d, dv = p.dv, n = d * dv;
  const bool active = j < dv;
  const float doj = active ? load_elem(p.grad_o, row * dv + j, p.qkv_dtype) : 0.f;
  const float vj = active ? load_elem(p.v, row * dv + j, p.qkv_dtype) : 0.f;
  float dvj = 0.f;
  for (int64_t i = 0; i < d; ++i) {
    const float qi = sh[i], ki = sh[d + i];
    const int64_t e = i * dv + j;
    float dq = 0.f, dk = 0.f, r1 = 0.f, r2 = 0.f;
    if (active) {
      const float dS1 = dS[e] + w1 * qi * doj, dS2 = dS[n + e] + w2 * qi * doj;
      const float c1 = cur[e], c2 = cur[n + e];
      dq = (w1 * c1 + w2 * c2) * doj;
      *gm += qi * (c1 - c2) * doj;
      dk = (dS1 + dS2) * vj;
      dvj += (dS1 + dS2) * ki;
      r1 = dS1 * prev[e], r2 = dS2 * prev[n + e];
      dS[e] = sh[2 * d + i] * dS1, dS[n + e] = sh[3 * d + i] * dS2;
    }
    dq = warp_sum(dq), dk = warp_sum(dk), r1 = warp_sum(r1), r2 = warp_sum(r2);
    if ((threadIdx.x & 31) == 0) {
      atomicAdd(&red[i], dq), atomicAdd(&red[d + i], dk);
      atomicAdd(&red[2 * d + i], r1), atomicAdd(&red[3 * d + i], r2);
    }
  }
  if (active) store_elem(p.grad_v, row * dv + j, p.qkv_dtype, dvj);
}

__global__ void bwd_kernel(DslaBwdParams p, float* ws) {
  extern __shared__ float sh[];  // [4d] token + [4d] reductions + [32] gamma partials
  float* red = sh + 4 * p.d;
  const int64_t bh = blockIdx.x, b = bh / p.H, h = bh % p.H, n = p.d * p.dv, d = p.d;
  const int64_t len = seq_len(p.lengths, b, p.T), nseg = (len + kSeg - 1) / kSeg;
  const int64_t nseg_max = (p.T + kSeg - 1) / kSeg;
  float* ckpt = ws + bh * bwd_ws_per_bh(p);
  float* trace = ckpt + (nseg_max + 1) * 2 * n;
  float* dS = trace + (kSeg + 1) * 2 * n;
  copy_col(p, p.s1_0 ? p.s1_0 + bh * n : nullptr, p.s2_0 ? p.s2_0 + bh * n : nullptr, ckpt,
           ckpt + n);
  for (int64_t s = 0; s < nseg; ++s) {
    float* nx = ckpt + (s + 1) * 2 * n;
    copy_col(p, nx - 2 * n, nx - n, nx, nx + n);
    scan(p, b, h, s * kSeg, min(len, (s + 1) * kSeg), nx, nx + n, nullptr, nullptr, sh);
  }
  copy_col(p, p.grad_s1 ? p.grad_s1 + bh * n : nullptr, p.grad_s2 ? p.grad_s2 + bh * n : nullptr,
           dS, dS + n);
  float w1, w2, gm = 0.f;
  mix_weights(p.scale, p.gamma[h], &w1, &w2);
  for (int64_t s = nseg - 1; s >= 0; --s) {
    const int64_t t0 = s * kSeg, t1 = min(len, (s + 1) * kSeg);
    float* start = ckpt + s * 2 * n;  // advanced in place: not needed once its segment is traced
    copy_col(p, start, start + n, trace, trace + n);
    scan(p, b, h, t0, t1, start, start + n, nullptr, trace, sh);  // trace[u+1] = after token t0+u
    for (int64_t t = t1 - 1; t >= t0; --t) {
      const int64_t row = (b * p.T + t) * p.H + h;
      __syncthreads();
      stage_token(p, row, sh);
      for (int64_t i = threadIdx.x; i < 4 * d; i += blockDim.x) red[i] = 0.f;
      __syncthreads();
      bwd_token(p, row, trace + (t - t0 + 1) * 2 * n, trace + (t - t0) * 2 * n, dS, sh, red, w1, w2,
                &gm);
      __syncthreads();
      for (int64_t i = threadIdx.x; i < d; i += blockDim.x) {
        store_elem(p.grad_q, row * d + i, p.qkv_dtype, red[i]);
        store_elem(p.grad_k, row * d + i, p.qkv_dtype, red[d + i]);
        store_elem(p.grad_g1, row * d + i, p.gate_dtype, sh[2 * d + i] * red[2 * d + i]);
        store_elem(p.grad_g2, row * d + i, p.gate_dtype, sh[3 * d + i] * red[3 * d + i]);
      }
    }
  }
  copy_col(p, dS, dS + n, p.grad_s1_0 + bh * n, p.grad_s2_0 + bh * n);
  __syncthreads();
  float* gsum = red + 4 * d;
  gm = warp_sum(gm);
  if ((threadIdx.x & 31) == 0) gsum[threadIdx.x / 32] = gm;
  __syncthreads();
  if (threadIdx.x == 0) {
    float tot = 0.f;
    for (unsigned w = 0; w < blockDim.x / 32; ++w) tot += gsum[w];
    p.grad_gamma_bh[bh] = p.scale * tot;
  }
}

}  // namespace

int dsla_fwd_cuda(const DslaFwdParams& p, void* stream) {
  if (p.B * p.H == 0) return 0;
  const size_t shmem = 4 * p.d * sizeof(float);
  fwd_kernel<<<static_cast<unsigned>(p.B * p.H), block_threads(p.dv), shmem,
               static_cast<cudaStream_t>(stream)>>>(p, true);
  return static_cast<int>(cudaGetLastError());
}

int64_t dsla_bwd_cuda_workspace(const DslaBwdParams& p) {
  return p.B * p.H * bwd_ws_per_bh(p);
}

int dsla_bwd_cuda(const DslaBwdParams& p, float* ws, void* stream) {
  if (p.B * p.H == 0) return 0;
  const size_t shmem = (8 * p.d + 32) * sizeof(float);
  bwd_kernel<<<static_cast<unsigned>(p.B * p.H), block_threads(p.dv), shmem,
               static_cast<cudaStream_t>(stream)>>>(p, ws);
  return static_cast<int>(cudaGetLastError());
}

int dsla_step_cuda(const DslaFwdParams& p, void* stream) {
  if (p.B * p.H == 0) return 0;
  const size_t shmem = 4 * p.d * sizeof(float);
  fwd_kernel<<<static_cast<unsigned>(p.B * p.H), block_threads(p.dv), shmem,
               static_cast<cudaStream_t>(stream)>>>(p, false);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace dsla::kernels::cuda
