// libFuzzer target: a whole .safetensors file's bytes through the header parser. Any header is
// refused with dsla::Error or yields tensors that lie inside the data section and cover it exactly.
#include <cstdlib>

#include "core/error.h"
#include "io/safetensors_header.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    dsla::io::SafetensorsHeader h =
        dsla::io::parse_safetensors_header(data, size, "fuzz.safetensors");
    uint64_t covered = 0;
    for (const auto& [name, t] : h.tensors) {
      if (t.end < t.begin || h.data_offset + t.end > size)
        std::abort();  // would read out of the file
      covered += t.end - t.begin;
    }
    if (covered != size - h.data_offset) std::abort();
  } catch (const dsla::Error&) {
  }
  return 0;
}
