// `attn digits`: trains the tiny digits CNN (attn/train/digits.h) with or without a channel
// attention block and prints the accuracy and, per class, the channels the block weights most.
#include <algorithm>
#include <cstdio>
#include <numeric>
#include <vector>

#include "apps/attn/commands.h"
#include "attn/data/digits.h"
#include "attn/train/digits.h"

namespace attn::cli {

void register_digits(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("digits", "train a tiny CNN on the 8x8 digits with SE / ECA / CBAM attention");
  struct Args {
    std::string data = "data/digits.csv.gz";
    train::DigitsOptions opt;
    int top = 4;
  };
  auto a = std::make_shared<Args>();
  sub->add_option("--data", a->data, "digits CSV (gzip or plain), 65 integers per row")->capture_default_str();
  sub->add_option("--attention", a->opt.attention, "attention block after the second conv")
      ->check(CLI::IsMember(train::digits_attention_choices()))
      ->capture_default_str();
  sub->add_option("--epochs", a->opt.epochs, "training epochs")->check(CLI::NonNegativeNumber)->capture_default_str();
  sub->add_option("--batch-size", a->opt.batch_size, "mini-batch size")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--lr", a->opt.lr, "Adam learning rate")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--seed", a->opt.seed, "seed of the split, the initial weights and the batch order")
      ->capture_default_str();
  sub->add_option("--test-fraction", a->opt.test_fraction, "fraction of rows held out for testing")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  sub->add_option("--reduction", a->opt.reduction, "SE / CBAM bottleneck: 32 / reduction hidden units")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--top", a->top, "channels listed per class")->check(CLI::Range(0, 32))->capture_default_str();
  sub->add_flag("--verbose,-v", a->opt.verbose, "print loss and accuracy after every epoch");

  actions()[sub] = [a] {
    const data::Digits d = data::load_digits(a->data);
    const train::DigitsResult r = train::train_digits_cnn(d, a->opt);
    std::printf(
        "digits CNN, attention %s, seed %llu: %lld train / %lld test images, %lld epochs, %.3f s/epoch (%.3f s CPU)\n",
        r.attention.c_str(), (unsigned long long)a->opt.seed, (long long)r.n_train, (long long)r.n_test,
        (long long)r.epochs, r.seconds_per_epoch, r.cpu_seconds_per_epoch);
    std::printf("final training loss %.4f\n", r.epoch_loss.empty() ? 0.0 : r.epoch_loss.back());
    std::printf("train accuracy %.4f  test accuracy %.4f\n", r.train_accuracy, r.test_accuracy);
    if (!r.channel_weights.defined() || a->top == 0) return;
    // Per class: the mean gate over its test images; the most and the least weighted channels.
    const float* w = r.channel_weights.data_ptr<float>();
    const int64_t K = r.channel_weights.size(0), C = r.channel_weights.size(1);
    const int top = int(std::min<int64_t>(a->top, C));
    std::printf("mean channel weight per class (test set), as channel:weight; highest %d | lowest %d:\n", top, top);
    for (int64_t k = 0; k < K; ++k) {
      const float* row = w + k * C;
      std::vector<int64_t> ch(static_cast<size_t>(C));
      std::iota(ch.begin(), ch.end(), 0);
      std::stable_sort(ch.begin(), ch.end(), [&](int64_t i, int64_t j) { return row[i] > row[j]; });
      std::printf("  %lld (n=%3lld):", (long long)k, (long long)r.test_class_counts[size_t(k)]);
      for (int i = 0; i < top; ++i) std::printf(" %2lld:%.2f", (long long)ch[size_t(i)], row[ch[size_t(i)]]);
      std::printf("  |");
      for (int i = 0; i < top; ++i) {
        const int64_t c = ch[size_t(C - 1 - i)];
        std::printf(" %2lld:%.2f", (long long)c, row[c]);
      }
      std::printf("\n");
    }
    // How class-dependent the gate is: per channel, max - min over the classes' mean weights.
    double range_sum = 0, gate_sum = 0;
    int64_t selective = 0, off = 0;
    for (int64_t c = 0; c < C; ++c) {
      float lo = 1, hi = 0;
      for (int64_t k = 0; k < K; ++k) lo = std::min(lo, w[k * C + c]), hi = std::max(hi, w[k * C + c]);
      range_sum += hi - lo;
      selective += hi - lo > 0.2f;
      off += hi < 0.5f;
    }
    for (int64_t i = 0; i < K * C; ++i) gate_sum += w[i];
    std::printf("mean weight %.3f; per-channel range over classes: mean %.3f, %lld of %lld channels > 0.2; "
                "%lld channels < 0.5 for every class\n",
                gate_sum / double(K * C), range_sum / double(C), (long long)selective, (long long)C, (long long)off);
  };
}

}  // namespace attn::cli
