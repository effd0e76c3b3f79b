// Serve settings: the file form (schema: serve) with flag overrides, every problem reported at
// once, the controller's own checks, a file of another schema refused.
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/paths.h"
#include "serve/controller.h"
#include "serve/serve_config.h"
#include "support/test_paths.h"

using namespace dsla::serve;
namespace fs = std::filesystem;

namespace {

fs::path write_file(const std::string& text) {
  static int n = 0;
  fs::path p = dsla::testing::make_temp_dir("serve_cfg" + std::to_string(n++)) / "serve.yaml";
  dsla::write_text_atomically(p, text);
  return p;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const dsla::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(ServeConfig, FileThenFlagsWithDefaultsForTheRest) {
  ServeConfig c = load_serve_config(dsla::repo_root() / "recipes/serve/server_stories260k.yaml",
                                    {"port=0", "depth=3"});
  EXPECT_EQ(c.model, "runs/stories260k");
  EXPECT_EQ(c.port, 0);             // the flag wins over the file's 8000
  EXPECT_EQ(c.prefill_chunk, 128);  // from the file
  EXPECT_EQ(c.max_context, 0);      // the default
  EXPECT_EQ(c.fixed_depth(), 3);
  EXPECT_EQ(load_serve_config(std::nullopt, {"model=/m"}).fixed_depth(), std::nullopt);
}

TEST(ServeConfig, EveryProblemIsReportedNamingTheFile) {
  fs::path p = write_file(
      "schema: serve\nmodel: /m\nport: 99999\nmax_batch: 0\nprefil_chunk: 3\ndepth: abc\n");
  std::string err = error_of([&] { load_serve_config(p, {}); });
  EXPECT_NE(err.find(p.string()), std::string::npos) << err;
  EXPECT_NE(err.find("unknown key 'prefil_chunk' (did you mean 'prefill_chunk'?)"),
            std::string::npos)
      << err;
  // The unknown key stops at reading; the checks run on a file that reads.
  fs::path q = write_file("schema: serve\nmodel: /m\nport: 99999\nmax_batch: 0\ndepth: abc\n");
  err = error_of([&] { load_serve_config(q, {"cooldown=-1"}); });
  EXPECT_NE(err.find("4 problem(s)"), std::string::npos) << err;
  EXPECT_NE(err.find("serve.port: must be in [0, 65535], got 99999"), std::string::npos) << err;
  EXPECT_NE(err.find("serve.max_batch: must be > 0"), std::string::npos) << err;
  EXPECT_NE(err.find("'abc' is neither 'auto' nor a depth"), std::string::npos) << err;
  EXPECT_NE(err.find("serve.cooldown: must be >= 0"), std::string::npos) << err;
  EXPECT_NE(error_of([] { load_serve_config(std::nullopt, {}); }).find("--model DIR"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              load_serve_config(std::nullopt, {"max_batch=many", "model=/m"});
            }).find("serve.max_batch: cannot read 'many' as an integer"),
            std::string::npos);
}

TEST(ServeConfig, AFileOfAnotherSchemaIsRefused) {
  fs::path p = write_file("schema: load\narrivals: poisson\n");
  EXPECT_NE(error_of([&] { load_serve_config(p, {}); }).find("declares 'schema: load'"),
            std::string::npos);
}

TEST(ServeConfig, TheControllerChecksItsOwnThresholds) {
  ControllerConfig c;
  c.max_depth = 4;
  c.prompt_low = 2000;
  c.step = 0;
  auto problems = check_controller_config(c);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_NE(problems[0].find("depth step 0"), std::string::npos);
  EXPECT_NE(problems[1].find("low thresholds"), std::string::npos);
  EXPECT_THROW(DepthController(c, 0), dsla::Error);
}
