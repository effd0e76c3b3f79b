// Loads libdsla_spm_shim.so once, with RTLD_DEEPBIND, and exposes its C functions.
#pragma once

#include "tokenizer/spm_shim_api.h"

namespace dsla::tokenizer {

struct SpmShim {
  dsla_spm_load_fn load;
  dsla_spm_free_fn free;
  dsla_spm_encode_fn encode;
  dsla_spm_decode_fn decode;
  dsla_spm_int_fn piece_size;
  dsla_spm_int_fn bos_id;
  dsla_spm_int_fn eos_id;
  dsla_spm_piece_fn id_to_piece;
  dsla_spm_is_control_fn is_control;
  dsla_spm_piece_to_id_fn piece_to_id;
};

/// The shim, loaded on first use from $DSLA_SPM_SHIM, else the path fixed at build time, else the
/// library search path. Throws dsla::Error saying where it looked when it cannot be loaded.
const SpmShim& spm_shim();

}  // namespace dsla::tokenizer
