// BatchNorm1d / BatchNorm2d (torch.nn; Ioffe & Szegedy 2015): per-channel normalisation with batch
// statistics in training mode and running estimates in eval mode, see attn/ops/batch_norm.h.
// BatchNorm1d takes [B, C] or [B, C, L], BatchNorm2d [B, C, H, W]. Parameters weight (init 1) and
// bias (init 0) [C] when affine; buffers running_mean (init 0), running_var (init 1) [C] and
// num_batches_tracked (int64, 0-d) when track_running_stats: PyTorch's state_dict names.
// Every training-mode forward adds 1 to num_batches_tracked; momentum nullopt uses the cumulative
// average (factor 1 / num_batches_tracked) instead of an exponential one.
#pragma once
#include <optional>

#include "attn/nn/module.h"

namespace attn::nn {

class BatchNormBase : public Module {
 public:
  BatchNormBase(int64_t num_features, double eps, std::optional<double> momentum, bool affine,
                bool track_running_stats, DType dtype);
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
  void reset_running_stats();
  void reset_parameters();  // running stats, and weight = 1, bias = 0
  std::string extra_repr() const override;

  int64_t num_features;
  double eps;
  std::optional<double> momentum;
  bool affine, track_running_stats;
  Tensor weight, bias;                                   // [C], undefined unless affine
  Tensor running_mean, running_var, num_batches_tracked;  // undefined unless track_running_stats

 protected:
  virtual void check_input(const Tensor& x) const = 0;
};

class BatchNorm1d : public BatchNormBase {
 public:
  explicit BatchNorm1d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true, DType dtype = kFloat32)
      : BatchNormBase(num_features, eps, momentum, affine, track_running_stats, dtype) {}

 protected:
  void check_input(const Tensor& x) const override;
};

class BatchNorm2d : public BatchNormBase {
 public:
  explicit BatchNorm2d(int64_t num_features, double eps = 1e-5, std::optional<double> momentum = 0.1,
                       bool affine = true, bool track_running_stats = true, DType dtype = kFloat32)
      : BatchNormBase(num_features, eps, momentum, affine, track_running_stats, dtype) {}

 protected:
  void check_input(const Tensor& x) const override;
};

}  // namespace attn::nn
