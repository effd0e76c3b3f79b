# Source lists (relative to src/) of dsla's LibTorch-free libraries, shared by src/CMakeLists.txt and the
# libFuzzer build (tests/fuzz), so a file added to a library is fuzzed with it.
set(DSLA_BASE_SOURCES core/paths.cpp core/atomic_file.cpp core/progress.cpp core/suggest.cpp core/quantile.cpp
  core/utf8_text.cpp io/json_file.cpp io/safetensors_header.cpp)
set(DSLA_TOKENIZER_SOURCES
  tokenizer/added_tokens.cpp
  tokenizer/bpe_model.cpp
  tokenizer/bpe_tokenizer.cpp
  tokenizer/chat_template.cpp
  tokenizer/incremental_decoder.cpp
  tokenizer/normalizer.cpp
  tokenizer/pcre2_regex.cpp
  tokenizer/pre_tokenizer.cpp
  tokenizer/sentencepiece_tokenizer.cpp
  tokenizer/spm_shim_loader.cpp
  tokenizer/tokenizer_factory.cpp
  tokenizer/utf8_util.cpp)
set(DSLA_CONFIG_SOURCES config/recipe_yaml.cpp config/recipe_validate.cpp config/yaml_reader.cpp
  config/yaml_file.cpp)
