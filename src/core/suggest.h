// "Did you mean" suggestions for unknown names (keys, commands) by edit distance.
#pragma once

#include <string>
#include <vector>

namespace dsla {

/// " (did you mean 'x'?)" for a close match among `known`, else " (known: a, b, ...)".
std::string suggestion(const std::string& name, const std::vector<std::string>& known);

}  // namespace dsla
