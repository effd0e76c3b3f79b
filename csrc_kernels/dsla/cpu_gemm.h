// Row-major fp32 GEMM on raw pointers for the CPU kernels (BLAS sgemm when the process has one).
#pragma once

#include <cstdint>

namespace dsla::kernels::cpu {

/// C[m,n] = alpha * op(A) op(B) + beta * C, all row-major. op(A) is A[m,k] (lda) or, when ta, A^T
/// with A stored [k,m]; likewise op(B) is B[k,n] or B^T with B stored [n,k].
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/// Name of the backend gemm() uses ("blas sgemm" or "at::mm fallback"), for the benchmark log.
const char* gemm_backend();

}  // namespace dsla::kernels::cpu
