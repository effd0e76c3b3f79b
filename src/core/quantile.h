// Nearest-rank quantiles of samples (the server's metrics and the load-test report).
#pragma once

#include <vector>

namespace dsla {

/// The q-quantile (nearest rank) of `values`, NaNs ignored; NaN when none is left.
double quantile(std::vector<double> values, double q);

}  // namespace dsla
