// A small real experiment for channel and spatial attention: a tiny CNN on the 8x8 digits set
// (attn/data/digits.h), trained with no attention block or with SE, ECA or CBAM
// (attn/attention/channel.h), reporting accuracy and the channel weights the block learned.
// docs/attention/channel.md ("Example: digits") has the results; `attn digits` runs it.
//
// Model (x [B, 1, 8, 8]):
//   conv1 Conv2d(1, 16, 3, padding 1) -> bn1 BatchNorm2d(16) -> relu      [B, 16, 8, 8]
//   conv2 Conv2d(16, 32, 3, padding 1) -> bn2 BatchNorm2d(32) -> relu     [B, 32, 8, 8]
//   att   none | SEBlock(32, r) | ECA(32) | CBAM(32, r, 7)                [B, 32, 8, 8]
//   global average pool -> fc Linear(32, 10)                              [B, 10] logits
// Trained with Adam on cross-entropy, mini-batches shuffled each epoch, the learning rate decayed
// from lr to 0 on a cosine over all steps (CosineAnnealingLR stepped per batch).
//
// Determinism: everything random (the train/test split, initial weights, batch order) comes from
// one attn::Generator seeded with `seed`; the global generator is not touched. With the same
// seed and options, two runs give bitwise identical results (kernels are thread-count
// independent).
//
// What it deliberately is not: a general training loop (no checkpoints, schedules or early
// stopping); it exists to compare the attention blocks on real data in well under a minute.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/data/digits.h"

namespace attn::train {

struct DigitsOptions {
  std::string attention = "none";  // none | se | eca | cbam
  int64_t epochs = 20;  // the runs in docs/attention/channel.md converge by then
  int64_t batch_size = 32;
  double lr = 1e-2;            // Adam's initial learning rate (betas 0.9, 0.999)
  uint64_t seed = 0;
  double test_fraction = 0.2;  // of the rows, drawn at random with `seed`; the rest trains
  // SE / CBAM bottleneck C / reduction. The papers' 16 would leave 32 / 16 = 2 hidden units for
  // this 32-channel map, so 4 (8 hidden units) is the default here.
  int64_t reduction = 4;
  bool verbose = false;  // one line per epoch on stderr (loss, train accuracy, seconds)
};

struct DigitsResult {
  std::string attention;
  int64_t n_train = 0, n_test = 0, epochs = 0;
  double train_accuracy = 0;    // eval mode (BatchNorm running statistics) after the last epoch
  double test_accuracy = 0;
  double seconds_per_epoch = 0;      // mean wall time of a training epoch
  double cpu_seconds_per_epoch = 0;  // mean process CPU time of a training epoch (all threads)
  std::vector<double> epoch_loss;  // mean training loss of each epoch
  // Per-class mean, over the test images of each true class, of the attention block's channel
  // weights: the SE / ECA sigmoid gate or CBAM's channel gate. [10, 32] float32, each value in
  // (0, 1). Undefined when attention is "none".
  Tensor channel_weights;
  std::vector<int64_t> test_class_counts;  // [10] test images per class
};

// The attention choices accepted by DigitsOptions::attention.
const std::vector<std::string>& digits_attention_choices();

DigitsResult train_digits_cnn(const data::Digits& digits, const DigitsOptions& options);

}  // namespace attn::train
