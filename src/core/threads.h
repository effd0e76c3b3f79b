// Intra-op thread setup: LibTorch defaults to one thread on small VMs, so dsla sets it explicitly.
#pragma once

namespace dsla {

/// The most intra-op threads dsla accepts: 4 per core, at least 64.
int max_threads();

/// Sets LibTorch's intra-op threads to `n`, or to the number of cores when n <= 0. Returns the
/// count in use. Throws dsla::Error when n exceeds max_threads().
int init_threads(int n);

}  // namespace dsla
