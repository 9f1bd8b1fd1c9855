// attn: the command-line tool. Each subcommand lives in its own file and only parses and wires.
//
// Errors are one line on stderr, "attn: error: <what>, <where>, <what to do>", and a non-zero exit
// code: 2 for a command line CLI11 rejects, 1 for everything that fails while running.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/attn.h"

namespace attn::cli {

std::map<const CLI::App*, std::function<void()>>& actions() {
  static std::map<const CLI::App*, std::function<void()>> m;
  return m;
}

namespace {

// attn::Error messages end with the attn source location (" [src/x.cc:12]"), which a
// command-line user does not need.
std::string strip_location(std::string s) {
  const size_t at = s.rfind(" [");
  if (at != std::string::npos && s.back() == ']' && (s.find(".cc:", at) != std::string::npos || s.find(".h:", at) != std::string::npos))
    s.resize(at);
  return s;
}

// The message on one line, without a final full stop (the line goes on after it).
std::string one_line(const std::string& in) {
  std::string s;
  for (char c : in) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    if (c == ' ' && (s.empty() || s.back() == ' ')) continue;  // runs of blanks become one
    s += c;
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '.')) s.pop_back();
  return s;
}

int fail(const std::string& what, const std::string& where, const std::string& todo, int code) {
  std::fprintf(stderr, "attn: error: %s, %s, %s\n", one_line(what).c_str(), where.c_str(), todo.c_str());
  return code;
}

// The subcommand being parsed or run, for "where" (the deepest one CLI11 has seen).
std::string command_name(const CLI::App& app) {
  const auto subs = app.get_subcommands();
  return subs.empty() ? std::string("attn") : "attn " + subs.front()->get_name();
}

}  // namespace
}  // namespace attn::cli

// OpenMP workers that spin while they wait for work steal the cores from the thread that has
// work whenever the machine is busy with anything else: measured on 2 shared cores, a training
// run took 104 s with spinning workers and 5.6 s with sleeping ones. The OpenMP runtime reads
// OMP_WAIT_POLICY once, before main, so when the user has not chosen a policy the tool re-executes
// itself with PASSIVE. Setting OMP_WAIT_POLICY (e.g. ACTIVE on a dedicated machine) keeps yours.
void prefer_passive_openmp(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then go on with the default policy
}

int main(int argc, char** argv) {
  prefer_passive_openmp(argv);
  CLI::App app{"attn: attention mechanisms, models and tools"};
  app.require_subcommand(0, 1);
  bool show_version = false;
  int threads = 0;
  app.add_flag("--version", show_version, "print the version and exit");
  app.add_option("--threads", threads, "threads for attn kernels and OpenBLAS (default: all cores)")->check(CLI::NonNegativeNumber);
  attn::cli::register_demo(app);
  attn::cli::register_digits(app);
  attn::cli::register_tour(app);
  attn::cli::register_train(app);
  attn::cli::register_translate(app);
  attn::cli::register_heatmap(app);
  attn::cli::register_eval(app);
  attn::cli::register_word2vec(app);
  attn::cli::register_pretrain(app);
  attn::cli::register_fill(app);
  // --threads works after any subcommand too (`attn train --threads 2 ...`).
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    sub->add_option("--threads", threads, "threads for attn kernels and OpenBLAS (default: all cores)")
        ->check(CLI::NonNegativeNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --help-all
    const std::string cmd = attn::cli::command_name(app);
    return attn::cli::fail(e.what(), "in `" + cmd + "`", "see `" + cmd + " --help`", 2);
  }
  if (threads > 0) attn::set_num_threads(threads);
  if (show_version) {
    std::printf("attn %s\n", attn::version());
    return 0;
  }
  try {
    for (CLI::App* sub : app.get_subcommands()) attn::cli::run(*sub);
    if (app.get_subcommands().empty()) std::printf("%s", app.help().c_str());
  } catch (const attn::cli::CliError& e) {
    const std::string& w = e.where();
    return attn::cli::fail(e.what(), w.rfind("attn", 0) == 0 ? "in `" + w + "`" : w, e.todo(), 1);
  } catch (const attn::Error& e) {
    const std::string cmd = attn::cli::command_name(app);
    return attn::cli::fail(attn::cli::strip_location(e.what()), "in `" + cmd + "`", "check the files and options given (`" + cmd + " --help`)", 1);
  } catch (const std::exception& e) {
    const std::string cmd = attn::cli::command_name(app);
    return attn::cli::fail(e.what(), "in `" + cmd + "`", "check the files and options given (`" + cmd + " --help`)", 1);
  }
  return 0;
}
