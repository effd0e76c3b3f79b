// Intra-op thread setup: LibTorch defaults to one thread on small VMs, so dsla sets it explicitly.
#pragma once

namespace dsla {

/// Sets LibTorch's intra-op threads to `n`, or to the number of cores when n <= 0. Returns the
/// count in use.
int init_threads(int n);

}  // namespace dsla
