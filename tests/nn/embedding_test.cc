// nn::Embedding: initialisation, padding_idx, from_pretrained.
#include <cmath>

#include "attn/nn/nn.h"
#include "test_util.h"

namespace attn::nn {
namespace {

using testing::all_equal;

TEST(Embedding, InitPaddingAndPretrained) {
  manual_seed(8);
  Embedding emb(300, 64, -1);  // -1 counts from the end: row 299
  ASSERT_TRUE(emb.padding_idx.has_value());
  EXPECT_EQ(*emb.padding_idx, 299);
  EXPECT_TRUE(all_equal(emb.weight.select(0, 299), zeros({64})));
  // N(0, 1) over 299 * 64 = 19136 draws: sample mean within 5 / sqrt(n) = 0.036, std within 3%.
  const std::vector<double> v = to_double_vector(emb.weight.narrow(0, 0, 299));
  double m = 0, s = 0;
  for (double e : v) m += e;
  m /= double(v.size());
  for (double e : v) s += (e - m) * (e - m);
  s = std::sqrt(s / double(v.size()));
  EXPECT_NEAR(m, 0.0, 0.036);
  EXPECT_NEAR(s, 1.0, 0.03);
  EXPECT_FALSE(emb.weight.grad_fn());
  EXPECT_EQ(emb.to_string(), "Embedding(300, 64, padding_idx=299)");

  Tensor idx = tensor(std::vector<int64_t>{3, 299, 3, 7}, {2, 2});
  Tensor out = emb(idx);
  EXPECT_EQ(out.shape(), (Shape{2, 2, 64}));
  EXPECT_TRUE(all_equal(out.select(0, 0).select(0, 0), emb.weight.select(0, 3)));
  out.backward(ones({2, 2, 64}));
  EXPECT_TRUE(all_equal(emb.weight.grad().select(0, 3), full({64}, 2.0)));
  EXPECT_TRUE(all_equal(emb.weight.grad().select(0, 299), zeros({64})));  // padding: no gradient
  EXPECT_THROW(emb(tensor(std::vector<int64_t>{300})), Error);
  EXPECT_THROW(Embedding(5, 2, 5), Error);
  EXPECT_THROW(Embedding(5, 2, -6), Error);

  Tensor table = randn({4, 3});
  auto frozen = Embedding::from_pretrained(table);
  EXPECT_TRUE(all_equal(frozen->weight, table));
  EXPECT_FALSE(frozen->weight.requires_grad());
  EXPECT_EQ(frozen->num_parameters(/*only_trainable=*/true), 0);
  auto trainable = Embedding::from_pretrained(table, false, 1);
  EXPECT_TRUE(trainable->weight.requires_grad());
  EXPECT_TRUE(all_equal(trainable->weight, table));  // the given padding row is kept
}

}  // namespace
}  // namespace attn::nn
