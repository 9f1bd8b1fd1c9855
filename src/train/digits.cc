// The digits CNN experiment (include/attn/train/digits.h).
#include "attn/train/digits.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <memory>

#include "attn/attention/channel.h"
#include "attn/core/autograd.h"
#include "attn/core/error.h"
#include "attn/core/random.h"
#include "attn/nn/batchnorm.h"
#include "attn/nn/conv.h"
#include "attn/nn/linear.h"
#include "attn/nn/module.h"
#include "attn/ops/index.h"
#include "attn/ops/loss.h"
#include "attn/ops/reduce.h"
#include "attn/ops/unary.h"
#include "attn/optim/adam.h"
#include "attn/optim/lr_scheduler.h"

namespace attn::train {
namespace {

constexpr int64_t kClasses = 10;
constexpr int64_t kChannels = 32;  // width of the map the attention block sees
constexpr int64_t kEvalBatch = 256;

class DigitsCNN : public nn::Module {
 public:
  DigitsCNN(const std::string& attention, int64_t reduction) {
    conv1 = register_module("conv1", std::make_shared<nn::Conv2d>(1, 16, 3, 1, 1));
    bn1 = register_module("bn1", std::make_shared<nn::BatchNorm2d>(16));
    conv2 = register_module("conv2", std::make_shared<nn::Conv2d>(16, kChannels, 3, 1, 1));
    bn2 = register_module("bn2", std::make_shared<nn::BatchNorm2d>(kChannels));
    if (attention == "se") se = register_module("att", std::make_shared<nn::SEBlock>(kChannels, reduction));
    if (attention == "eca") eca = register_module("att", std::make_shared<nn::ECA>(kChannels));
    if (attention == "cbam") cbam = register_module("att", std::make_shared<nn::CBAM>(kChannels, reduction, 7));
    fc = register_module("fc", std::make_shared<nn::Linear>(kChannels, kClasses));
  }

  Tensor forward(const Tensor& x) {                          // [B, 1, 8, 8]
    Tensor h = relu(bn1->forward(conv1->forward(x)));        // [B, 16, 8, 8]
    h = relu(bn2->forward(conv2->forward(h)));               // [B, 32, 8, 8]
    if (se) h = se->forward(h);                              // [B, 32, 8, 8]
    if (eca) h = eca->forward(h);
    if (cbam) h = cbam->forward(h);
    return fc->forward(mean(h, {2, 3}));                     // [B, 10]
  }

  // The channel gate of the last forward, [B, 32]; undefined without an attention block.
  Tensor channel_weights() const {
    if (se) return se->last_weights();
    if (eca) return eca->last_weights();
    if (cbam) return cbam->last_channel_weights();
    return {};
  }

  // Re-draws every conv and linear weight from `gen` (PyTorch's default initialisation), so the
  // run depends on the seed only. BatchNorm starts at weight 1, bias 0 and needs no draw.
  void reset_parameters(Generator& gen) {
    apply([&](nn::Module& m) {
      if (auto* c = dynamic_cast<nn::Conv2d*>(&m)) c->reset_parameters(&gen);
      if (auto* c = dynamic_cast<nn::Conv1d*>(&m)) c->reset_parameters(&gen);
      if (auto* l = dynamic_cast<nn::Linear*>(&m)) l->reset_parameters(&gen);
    });
  }

  std::shared_ptr<nn::Conv2d> conv1, conv2;
  std::shared_ptr<nn::BatchNorm2d> bn1, bn2;
  std::shared_ptr<nn::SEBlock> se;
  std::shared_ptr<nn::ECA> eca;
  std::shared_ptr<nn::CBAM> cbam;
  std::shared_ptr<nn::Linear> fc;
};

int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  Tensor pred = argmax(logits, 1).contiguous();
  Tensor y = labels.contiguous();
  const int64_t* p = pred.data_ptr<int64_t>();
  const int64_t* t = y.data_ptr<int64_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < y.numel(); ++i) n += p[i] == t[i];
  return n;
}

// Eval-mode accuracy over (x, y); when `weights_sum` is given, also adds each image's channel
// gate to the row of its true class ([10, 32], double) and counts images per class.
double evaluate(DigitsCNN& model, const Tensor& x, const Tensor& y, std::vector<double>* weights_sum,
                std::vector<int64_t>* class_counts) {
  NoGradGuard no_grad;
  model.eval();
  const int64_t n = x.size(0);
  int64_t correct = 0;
  for (int64_t s = 0; s < n; s += kEvalBatch) {
    const int64_t e = std::min(n, s + kEvalBatch);
    Tensor yb = y.slice(0, s, e);
    correct += count_correct(model.forward(x.slice(0, s, e)), yb);
    if (!weights_sum) continue;
    Tensor w = model.channel_weights().contiguous();  // [b, 32] float32
    const float* wp = w.data_ptr<float>();
    Tensor yc = yb.contiguous();
    const int64_t* lp = yc.data_ptr<int64_t>();
    for (int64_t i = 0; i < e - s; ++i) {
      ++(*class_counts)[size_t(lp[i])];
      for (int64_t c = 0; c < kChannels; ++c) (*weights_sum)[size_t(lp[i] * kChannels + c)] += wp[i * kChannels + c];
    }
  }
  model.train();
  return n ? double(correct) / double(n) : 0.0;
}

}  // namespace

const std::vector<std::string>& digits_attention_choices() {
  static const std::vector<std::string> choices = {"none", "se", "eca", "cbam"};
  return choices;
}

DigitsResult train_digits_cnn(const data::Digits& digits, const DigitsOptions& o) {
  const auto& choices = digits_attention_choices();
  ATTN_CHECK(std::find(choices.begin(), choices.end(), o.attention) != choices.end(),
             "train_digits_cnn: attention must be one of none, se, eca, cbam; got '", o.attention, "'");
  ATTN_CHECK(o.epochs >= 0 && o.batch_size >= 1 && o.lr > 0 && o.reduction >= 1,
             "train_digits_cnn: need epochs >= 0, batch_size >= 1, lr > 0, reduction >= 1; got ", o.epochs, ", ",
             o.batch_size, ", ", o.lr, ", ", o.reduction);
  const Tensor& images = digits.images;
  const Tensor& labels = digits.labels;
  ATTN_CHECK(images.defined() && labels.defined() && images.dim() == 4 && images.size(1) == 1 &&
                 images.size(2) == 8 && images.size(3) == 8 && images.dtype() == kFloat32 && labels.dim() == 1 &&
                 labels.dtype() == kInt64 && labels.size(0) == images.size(0),
             "train_digits_cnn: expected images float32 [N, 1, 8, 8] and labels int64 [N], got ",
             images.defined() ? images.describe() : "undefined", " and ",
             labels.defined() ? labels.describe() : "undefined");
  const int64_t n = images.size(0);
  const auto n_test = int64_t(std::llround(double(n) * o.test_fraction));
  ATTN_CHECK(o.test_fraction > 0 && o.test_fraction < 1 && n_test >= 1 && n_test < n,
             "train_digits_cnn: test_fraction ", o.test_fraction, " of ", n,
             " rows must leave at least one test and one training row");

  // One generator for everything random: split, initial weights, batch order.
  Generator gen(o.seed);
  Tensor perm = randperm(n, &gen);
  Tensor test_idx = perm.slice(0, 0, n_test).contiguous();
  Tensor train_idx = perm.slice(0, n_test, n).contiguous();
  Tensor x_train = index_select(images, 0, train_idx), y_train = index_select(labels, 0, train_idx);
  Tensor x_test = index_select(images, 0, test_idx), y_test = index_select(labels, 0, test_idx);
  const int64_t n_train = n - n_test;

  DigitsCNN model(o.attention, o.reduction);
  model.reset_parameters(gen);
  model.train();
  optim::Adam opt(model.parameters(), o.lr);
  // Cosine decay to 0 over all steps. Besides converging, it lets the BatchNorm running
  // statistics catch up with the weights: at a constant rate they lag the fast-moving weights and
  // eval-mode accuracy trails train-mode accuracy by 10-30 points on this net.
  const int64_t steps_per_epoch = (n_train + o.batch_size - 1) / o.batch_size;
  optim::CosineAnnealingLR schedule(opt, std::max<int64_t>(1, o.epochs * steps_per_epoch));

  DigitsResult r;
  r.attention = o.attention;
  r.n_train = n_train;
  r.n_test = n_test;
  r.epochs = o.epochs;
  double seconds = 0, cpu_seconds = 0;
  for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    Tensor order = randperm(n_train, &gen);
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t s = 0; s < n_train; s += o.batch_size) {
      const int64_t e = std::min(n_train, s + o.batch_size);
      Tensor idx = order.slice(0, s, e).contiguous();
      Tensor xb = index_select(x_train, 0, idx), yb = index_select(y_train, 0, idx);
      Tensor logits = model.forward(xb);
      Tensor loss = cross_entropy(logits, yb);
      opt.zero_grad();
      loss.backward();
      opt.step();
      schedule.step();
      loss_sum += loss.item() * double(e - s);
      correct += count_correct(logits.detach(), yb);
    }
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    seconds += dt;
    cpu_seconds += double(std::clock() - c0) / CLOCKS_PER_SEC;
    r.epoch_loss.push_back(loss_sum / double(n_train));
    if (o.verbose)
      std::fprintf(stderr, "[%s] epoch %3lld/%lld  loss %.4f  train acc %.4f  %.2fs\n", o.attention.c_str(),
                   (long long)(epoch + 1), (long long)o.epochs, r.epoch_loss.back(), double(correct) / double(n_train),
                   dt);
  }
  r.seconds_per_epoch = o.epochs ? seconds / double(o.epochs) : 0.0;
  r.cpu_seconds_per_epoch = o.epochs ? cpu_seconds / double(o.epochs) : 0.0;
  r.train_accuracy = evaluate(model, x_train, y_train, nullptr, nullptr);

  const bool gated = o.attention != "none";
  std::vector<double> wsum(size_t(kClasses * kChannels), 0.0);
  r.test_class_counts.assign(size_t(kClasses), 0);
  r.test_accuracy = evaluate(model, x_test, y_test, gated ? &wsum : nullptr, &r.test_class_counts);
  if (!gated) {
    // Without a gate the class counts were not gathered on the way; count them here.
    const int64_t* lp = y_test.data_ptr<int64_t>();
    for (int64_t i = 0; i < n_test; ++i) ++r.test_class_counts[size_t(lp[i])];
  } else {
    std::vector<float> mean_w(wsum.size());
    for (int64_t k = 0; k < kClasses; ++k)
      for (int64_t c = 0; c < kChannels; ++c) {
        const auto cnt = double(std::max<int64_t>(1, r.test_class_counts[size_t(k)]));
        mean_w[size_t(k * kChannels + c)] = float(wsum[size_t(k * kChannels + c)] / cnt);
      }
    r.channel_weights = tensor(mean_w, {kClasses, kChannels});
  }
  return r;
}

}  // namespace attn::train
