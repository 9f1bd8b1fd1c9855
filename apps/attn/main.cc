// attn: the command-line tool. Each subcommand lives in its own file and only parses and wires.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "apps/attn/commands.h"
#include "attn/attn.h"

int main(int argc, char** argv) {
  CLI::App app{"attn: attention mechanisms, models and tools"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  int threads = 0;
  app.add_flag("--version", show_version, "print the version and exit");
  app.add_option("--threads", threads, "threads for attn kernels and OpenBLAS (default: all cores)")->check(CLI::NonNegativeNumber);
  attn::cli::register_demo(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (threads > 0) attn::set_num_threads(threads);
  if (show_version) {
    std::printf("attn %s\n", attn::version());
    return 0;
  }
  try {
    for (CLI::App* sub : app.get_subcommands()) attn::cli::run(*sub);
    if (app.get_subcommands().empty()) std::printf("%s", app.help().c_str());
  } catch (const attn::Error& e) {
    std::fprintf(stderr, "attn: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
