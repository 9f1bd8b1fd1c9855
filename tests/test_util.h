// Test helpers: closeness checks that print the first mismatching indices with both values,
// PyTorch fixtures (tests/fixtures/<family>/<case>.safetensors, made by tools/gen_fixtures.py),
// and fast-vs-reference comparisons.
#pragma once
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "attn/attn.h"
#include "attn/io/safetensors.h"

namespace attn::testing {

// |actual - expected| <= atol + rtol * |expected| elementwise, same shape; NaN equals NaN only
// when both are NaN. On failure, lists up to 5 mismatches as "[i, j]: actual vs expected".
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, double atol, double rtol = 0.0);
// Bitwise equality of values (and shape and dtype).
::testing::AssertionResult all_equal(const Tensor& actual, const Tensor& expected);

// Expects fn() to throw attn::Error whose message contains every one of `parts`.
void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts);
// True when every element is finite (no NaN, no inf).
bool all_finite(const Tensor& t);

// Loads tests/fixtures/<name>.safetensors (e.g. "elementwise/add").
io::SafetensorsFile load_fixture(const std::string& name);

// Runs fn once with reference kernels and once with fast kernels, returning {ref, fast}.
std::pair<Tensor, Tensor> ref_and_fast(const std::function<Tensor()>& fn);

// Runs fn with 1 thread and with 2 threads, returning {one, two}.
std::pair<Tensor, Tensor> one_and_two_threads(const std::function<Tensor()>& fn);

// Sizes that exercise SIMD loop tails: 0, 1, lanes-1, lanes, lanes+1 for 4/8/16 lanes, and a real size.
const std::vector<int64_t>& awkward_sizes();

// The names of a state_dict (or of named parameters / buffers), in order.
std::vector<std::string> keys(const nn::NamedTensors& named);

// A float tensor viewed at a misaligned start (offset by one element into a larger buffer).
Tensor misaligned_randn(Shape shape, DType dtype, uint64_t seed);

}  // namespace attn::testing

#define ATTN_EXPECT_GRADCHECK(f, inputs)                      \
  do {                                                        \
    auto _r = ::attn::gradcheck((f), (inputs));               \
    EXPECT_TRUE(_r.ok) << _r.message();                       \
  } while (0)
