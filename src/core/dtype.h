// The weight dtypes a model can be loaded in, by name (one parser for recipes and --dtype).
#pragma once

#include "core/settings.h"

namespace dsla {

enum class Dtype { float32, bfloat16 };
DSLA_ENUM_NAMES(Dtype, {Dtype::float32, "float32"}, {Dtype::float32, "f32"},
                {Dtype::bfloat16, "bfloat16"}, {Dtype::bfloat16, "bf16"})

}  // namespace dsla
