// BatchNorm1d / BatchNorm2d: buffer bookkeeping as torch.nn.modules.batchnorm._BatchNorm; the
// normalisation itself is attn::batch_norm (ops/batch_norm).
#include "attn/nn/batchnorm.h"

#include "attn/core/autograd.h"
#include "attn/ops/batch_norm.h"

namespace attn::nn {

BatchNormBase::BatchNormBase(int64_t c, double eps, std::optional<double> momentum, bool affine, bool track,
                             DType dtype)
    : num_features(c), eps(eps), momentum(momentum), affine(affine), track_running_stats(track) {
  ATTN_CHECK(c > 0, "BatchNorm: num_features must be positive, got ", c);
  ATTN_CHECK(is_floating_point(dtype), "BatchNorm: dtype must be floating point, got ", dtype);
  if (affine) {
    weight = register_parameter("weight", empty({c}, dtype));
    bias = register_parameter("bias", empty({c}, dtype));
  }
  if (track) {
    running_mean = register_buffer("running_mean", empty({c}, dtype));
    running_var = register_buffer("running_var", empty({c}, dtype));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, kInt64));
  }
  reset_parameters();
}

void BatchNormBase::reset_running_stats() {
  if (!track_running_stats) return;
  NoGradGuard no_grad;
  running_mean.zero_();
  running_var.fill_(1.0);
  num_batches_tracked.zero_();
}

void BatchNormBase::reset_parameters() {
  reset_running_stats();
  if (affine) {
    NoGradGuard no_grad;
    weight.fill_(1.0);
    bias.zero_();
  }
}

Tensor BatchNormBase::forward(const Tensor& x) {
  check_input(x);
  ATTN_CHECK(x.size(1) == num_features, type_name(), ": expected input with ", num_features, " channels (dim 1), got ",
             x.describe());
  double factor = momentum.value_or(0.0);
  if (is_training() && track_running_stats) {
    const int64_t n = num_batches_tracked.item<int64_t>() + 1;
    num_batches_tracked.fill_(double(n));
    if (!momentum) factor = 1.0 / double(n);
  }
  // Batch statistics in training mode, and in eval mode when there are no running stats.
  const bool use_batch_stats = is_training() || !track_running_stats;
  const bool pass_stats = !is_training() || track_running_stats;
  return batch_norm(x, pass_stats ? running_mean : Tensor(), pass_stats ? running_var : Tensor(), weight, bias,
                    use_batch_stats, factor, eps);
}

std::string BatchNormBase::extra_repr() const {
  return detail::str_cat(num_features, ", eps=", eps, ", momentum=", momentum ? detail::str_cat(*momentum) : "None",
                         ", affine=", affine ? "True" : "False", ", track_running_stats=",
                         track_running_stats ? "True" : "False");
}

void BatchNorm1d::check_input(const Tensor& x) const {
  ATTN_CHECK(x.dim() == 2 || x.dim() == 3, "BatchNorm1d: expected input [B, C] or [B, C, L], got ", x.describe());
}

void BatchNorm2d::check_input(const Tensor& x) const {
  ATTN_CHECK(x.dim() == 4, "BatchNorm2d: expected input [B, C, H, W], got ", x.describe());
}

}  // namespace attn::nn
