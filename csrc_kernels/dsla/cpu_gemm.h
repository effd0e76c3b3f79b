// Row-major fp32 GEMM on raw pointers for the CPU kernels (BLAS sgemm when the process has one).
#pragma once

#include <cstdint>

namespace dsla::kernels::cpu {

/// C[m,n] = alpha * op(A) op(B) + beta * C, all row-major. op(A) is A[m,k] (lda) or, when ta, A^T
/// with A stored [k,m]; likewise op(B) is B[k,n] or B^T with B stored [n,k].
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

/// While alive, BLAS calls of this thread run single-threaded (MKL's thread-local setting, when the
/// process has MKL): the kernels already split (b,h) over at::parallel_for, and a threaded BLAS
/// inside those tasks oversubscribes the cores (measured: a 64x128x64 sgemm took ms instead of us).
class SerialBlasScope {
 public:
  SerialBlasScope();
  ~SerialBlasScope();
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;

 private:
  int prev_ = 0;
};

/// Name of the backend gemm() uses ("blas sgemm" or "at::mm fallback"), for the benchmark log.
const char* gemm_backend();

}  // namespace dsla::kernels::cpu
