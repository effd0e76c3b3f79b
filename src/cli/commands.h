// The dsla subcommands; each owns its options and returns the process exit code.
#pragma once

namespace dsla::cli {

int run_info(int argc, char** argv);
int run_generate(int argc, char** argv);
int run_ppl(int argc, char** argv);
int run_validate(int argc, char** argv);
int run_profile(int argc, char** argv);
int run_fit_report(int argc, char** argv);
int run_distill(int argc, char** argv);
int run_export(int argc, char** argv);
int run_eval(int argc, char** argv);
int run_serve(int argc, char** argv);
int run_bench(int argc, char** argv);

}  // namespace dsla::cli
