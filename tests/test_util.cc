#include "test_util.h"

#include <cmath>
#include <sstream>

namespace attn::testing {

namespace {
std::string index_str(int64_t flat, const Shape& shape) {
  Shape idx(shape.size());
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    idx[d] = shape[d] ? flat % shape[d] : 0;
    flat = shape[d] ? flat / shape[d] : 0;
  }
  return shape_str(idx);
}
}  // namespace

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << "undefined tensor (actual " << actual.describe() << ", expected "
                                         << expected.describe() << ")";
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << "shape mismatch: actual " << actual.describe() << " vs expected "
                                         << expected.describe();
  NoGradGuard ng;
  const std::vector<double> a = to_double_vector(actual), e = to_double_vector(expected);
  std::ostringstream os;
  int bad = 0;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
    const double err = std::abs(a[i] - e[i]);
    const bool ok = both_nan || (a[i] == e[i]) || err <= atol + rtol * std::abs(e[i]);
    if (!ok) {
      worst = std::max(worst, std::isnan(err) ? INFINITY : err);
      if (bad < 5)
        os << "\n  at " << index_str(int64_t(i), actual.shape()) << ": actual " << a[i] << " vs expected " << e[i]
           << " (|diff| " << err << ")";
      ++bad;
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << a.size() << " elements differ beyond atol " << atol
                                       << " + rtol " << rtol << " (worst |diff| " << worst << ")" << os.str();
}

::testing::AssertionResult all_equal(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << "dtype mismatch: " << actual.describe() << " vs " << expected.describe();
  return all_close(actual, expected, 0.0, 0.0);
}

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no attn::Error thrown";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& part : parts) EXPECT_NE(msg.find(part), std::string::npos) << "'" << part << "' not in: " << msg;
  }
}

bool all_finite(const Tensor& t) {
  for (double v : to_double_vector(t))
    if (!std::isfinite(v)) return false;
  return true;
}

io::SafetensorsFile load_fixture(const std::string& name) {
  return io::load_safetensors(std::string(ATTN_FIXTURES_DIR) + "/" + name + ".safetensors");
}

std::pair<Tensor, Tensor> ref_and_fast(const std::function<Tensor()>& fn) {
  Tensor r, f;
  {
    KernelModeGuard g(true);
    r = fn();
  }
  {
    KernelModeGuard g(false);
    f = fn();
  }
  return {r, f};
}

std::pair<Tensor, Tensor> one_and_two_threads(const std::function<Tensor()>& fn) {
  const int prev = get_num_threads();
  set_num_threads(1);
  Tensor one = fn();
  set_num_threads(2);
  Tensor two = fn();
  set_num_threads(prev);
  return {one, two};
}

const std::vector<int64_t>& awkward_sizes() {
  static const std::vector<int64_t> s = {0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 1000};
  return s;
}

Tensor misaligned_randn(Shape shape, DType dtype, uint64_t seed) {
  Generator g(seed);
  Tensor base = randn({shape_numel(shape) + 1}, dtype, &g);
  return base.narrow(0, 1, shape_numel(shape)).view(shape);
}

std::vector<std::string> keys(const nn::NamedTensors& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

}  // namespace attn::testing
