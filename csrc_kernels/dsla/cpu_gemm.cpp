// cpu_gemm.h: BLAS sgemm_ (exported by LibTorch's MKL or the system BLAS) with an at::mm fallback.
#include "dsla/cpu_gemm.h"

#include <ATen/ATen.h>

// Fortran BLAS, resolved at load time if any loaded library exports it (weak: absent -> nullptr).
extern "C" void sgemm_(const char* transa, const char* transb, const int* m, const int* n,
                       const int* k, const float* alpha, const float* a, const int* lda,
                       const float* b, const int* ldb, const float* beta, float* c, const int* ldc)
    __attribute__((weak));

// MKL's per-thread thread count, C interface (returns the previous one; 0 = follow the global
// setting). The lower-case mkl_set_num_threads_local is the Fortran one (int*) in this MKL.
extern "C" int MKL_Set_Num_Threads_Local(int nt) __attribute__((weak));

namespace dsla::kernels::cpu {

SerialBlasScope::SerialBlasScope() {
  if (MKL_Set_Num_Threads_Local != nullptr) prev_ = MKL_Set_Num_Threads_Local(1);
}

SerialBlasScope::~SerialBlasScope() {
  if (MKL_Set_Num_Threads_Local != nullptr) MKL_Set_Num_Threads_Local(prev_);
}

namespace {

// Same product through ATen on views of the raw buffers (slower: tensor overhead per call).
void gemm_aten(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  auto opt = at::TensorOptions().dtype(at::kFloat);
  auto view = [&](const float* p, int64_t rows, int64_t cols, int64_t ld) {
    return at::from_blob(const_cast<float*>(p), {rows, cols}, {ld, 1}, opt);
  };
  at::Tensor a = ta ? view(A, k, m, lda).t() : view(A, m, k, lda);
  at::Tensor b = tb ? view(B, n, k, ldb).t() : view(B, k, n, ldb);
  at::Tensor c = view(C, m, n, ldc);
  if (beta == 0.f) {
    at::mm_out(c, a, b);
    if (alpha != 1.f) c.mul_(alpha);
  } else {
    c.mul_(beta).add_(at::mm(a, b), alpha);
  }
}

}  // namespace

void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
    return;
  }
  if (sgemm_ == nullptr) {
    gemm_aten(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const char opa = tb ? 'T' : 'N', opb = ta ? 'T' : 'N';
  const int im = static_cast<int>(n), in = static_cast<int>(m), ik = static_cast<int>(k);
  const int ilda = static_cast<int>(ldb), ildb = static_cast<int>(lda),
            ildc = static_cast<int>(ldc);
  sgemm_(&opa, &opb, &im, &in, &ik, &alpha, B, &ilda, A, &ildb, &beta, C, &ildc);
}

const char* gemm_backend() {
  return sgemm_ != nullptr ? "blas sgemm" : "at::mm fallback";
}

}  // namespace dsla::kernels::cpu
