// Subcommand registry of the attn CLI: each subcommand file adds its options to the app and
// stores the action to run after parsing.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <map>

namespace attn::cli {

// Actions keyed by subcommand; run() calls the one that was parsed.
std::map<const CLI::App*, std::function<void()>>& actions();
inline void run(const CLI::App& sub) {
  auto it = actions().find(&sub);
  if (it != actions().end()) it->second();
}

void register_demo(CLI::App& app);

}  // namespace attn::cli
