// Internal pieces of the chunked CPU kernels: per-thread chunk workspace, loaders and intra-chunk
// math.
#pragma once

#include <cstdint>
#include <vector>

#include "dsla/dsla_params.h"

namespace dsla::kernels::cpu {

/// One chunk of one (b,h) in fp32, row-major, plus its factor matrices. L <= C rows; "2d" buffers
/// hold the history state's block in columns [0,d) and the recency state's in [d,2d).
struct ChunkWork {
  int64_t C = 0, d = 0, dv = 0, L = 0;
  float w[2] = {0.f, 0.f};            // output weights s*gamma, s*(1-gamma)
  bool factorised[2] = {true, true};  // per state: chunk span <= kMaxFactorisedSpan
  std::vector<float> q, k, g[2];      // [L,d]; g holds the in-chunk cumulative log-gates b
  std::vector<float> v, o, dO;        // [L,dv]
  std::vector<float> lam;             // [2d] b at the chunk's last row
  std::vector<float> qt, kt;          // [L,2d] w_j q*exp(b-ref_j), k*exp(ref_j-b); ref = lam/2
  std::vector<float> qh, kg;          // [L,2d] w_j q*exp(b), k*exp(lam-b)
  std::vector<float> eb, elb;         // [L,2d] exp(b), exp(lam-b)
  std::vector<float> M, dP;           // [L,L] mixed scores, dO V^T
  std::vector<float> X, Y, Z;         // [L,2d] backward temporaries

  ChunkWork(int64_t chunk, int64_t d_, int64_t dv_, bool backward);
};

/// Loads rows [t0, t0+L) of (b,h) into w.q/k/v (and w.dO when dO != null), cumulates the gates.
void load_chunk(const DslaFwdParams& p, const void* dO, int64_t b, int64_t h, int64_t t0, int64_t L,
                ChunkWork& w);

/// Fills lam, factorised[], qt/kt (factorised states only, zeros otherwise), qh, kg.
void build_factors(ChunkWork& w);

/// w.M = tril(w1 A1 + w2 A2), A_j[r,u] = sum_i q_r,i k_u,i exp(b_j[r,i] - b_j[u,i]) for u <= r.
void intra_scores(ChunkWork& w);

/// Intra-chunk gradients given w.dP = dO V^T: X (block j) = dq_hat_j (unweighted) and
/// Y (block j) = w_j * dk_j from the intra-chunk scores; only the lower triangle of dP is used.
void intra_grads(ChunkWork& w);

/// Writes L rows of src [L,cols] to dst rows of (b,h) in the [B,T,H,cols] buffer, converting to dt.
void store_rows(const float* src, void* dst, DslaDtype dt, const DslaFwdParams& p, int64_t b,
                int64_t h, int64_t t0, int64_t L, int64_t cols);

/// Advances S [2d,dv] (S1 rows, then S2 rows) over the loaded chunk (after build_factors).
void chunk_state_update(ChunkWork& w, float* S);

/// States of (b,h) at chunk boundaries: Sb[c] [2d,dv] before chunk c, Sb[nc] the final state.
void chunk_boundary_states(const DslaFwdParams& p, int64_t b, int64_t h, ChunkWork& w, float* Sb);

/// Chunked forward / backward and the recurrent decode step over every (b,h) (at::parallel_for).
void dsla_fwd_cpu(const DslaFwdParams& p);
void dsla_bwd_cpu(const DslaBwdParams& p);
void dsla_step_cpu(const DslaFwdParams& p);

}  // namespace dsla::kernels::cpu
