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
void register_digits(CLI::App& app);
void register_tour(CLI::App& app);
void register_train(CLI::App& app);
void register_translate(CLI::App& app);
void register_heatmap(CLI::App& app);
void register_eval(CLI::App& app);
void register_word2vec(CLI::App& app);
void register_pretrain(CLI::App& app);
void register_fill(CLI::App& app);

}  // namespace attn::cli
