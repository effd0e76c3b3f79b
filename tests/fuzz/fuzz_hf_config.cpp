// libFuzzer target: config.json text through the JSON reader and parse_llama_config. Malformed or
// inconsistent configs must be refused with dsla::Error (naming the file), never another exception.
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "fuzz_support.h"
#include "io/json_file.h"
#include "model/hf_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    nlohmann::json j =
        dsla::io::read_json_file(dsla::fuzz::write_scratch("config.json", data, size));
    dsla::model::LlamaConfig c = dsla::model::parse_llama_config(j, "config.json");
    // An accepted config must round-trip through its JSON form.
    dsla::model::parse_llama_config(dsla::model::llama_config_to_json(c), "round trip");
  } catch (const dsla::Error&) {
  }
  return 0;
}
