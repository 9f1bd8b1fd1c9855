#include "attn/core/tensor.h"

#include "test_util.h"

namespace attn {
namespace {

using testing::all_equal;

TEST(Tensor, CreationShapesAndValues) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), kFloat32);
  EXPECT_EQ(to_double_vector(ones({2}, kFloat64)), (std::vector<double>{1, 1}));
  EXPECT_EQ(to_int64_vector(arange(5)), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(to_double_vector(arange(1, 2, 0.25, kFloat32)), (std::vector<double>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(to_double_vector(eye(2, 3)), (std::vector<double>{1, 0, 0, 0, 1, 0}));
  EXPECT_EQ(to_double_vector(full({3}, 2.5)), (std::vector<double>{2.5, 2.5, 2.5}));
  EXPECT_EQ(to_double_vector(linspace(0, 1, 5, kFloat64)), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(scalar_tensor(3.0).dim(), 0);
  EXPECT_EQ(scalar_tensor(3.0).item(), 3.0);
  EXPECT_EQ(zeros({0, 4}).numel(), 0);
}

TEST(Tensor, BadShapesThrowWithTheShape) {
  EXPECT_THROW(zeros({2, -1}), Error);
  try {
    tensor({1.f, 2.f, 3.f}, {2, 2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 2]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ones({2}).data_ptr<double>(), Error);
  EXPECT_THROW(ones({2}).item(), Error);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor a = arange(0, 6, 1, kFloat32).view({2, 3});
  Tensor t = a.transpose(0, 1);
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(to_double_vector(t), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  Tensor row = a.select(0, 1);
  EXPECT_EQ(to_double_vector(row), (std::vector<double>{3, 4, 5}));
  row.fill_(7);
  EXPECT_EQ(to_double_vector(a), (std::vector<double>{0, 1, 2, 7, 7, 7}));
  EXPECT_EQ(to_double_vector(a.narrow(1, 1, 2)), (std::vector<double>{1, 2, 7, 7}));
  EXPECT_EQ(to_double_vector(a.slice(1, 0, 3, 2)), (std::vector<double>{0, 2, 7, 7}));
  EXPECT_EQ(a.unsqueeze(0).shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(a.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(a.unsqueeze(0).squeeze(0).shape(), (Shape{2, 3}));
  EXPECT_EQ(a.view({-1}).shape(), (Shape{6}));
  EXPECT_EQ(a.reshape({3, -1}).shape(), (Shape{3, 2}));
  EXPECT_EQ(a.permute({1, 0}).contiguous().strides(), (Shape{2, 1}));
  EXPECT_EQ(a.flatten().shape(), (Shape{6}));
  EXPECT_THROW(t.view({6}), Error);  // not viewable: needs reshape
  EXPECT_EQ(to_double_vector(t.reshape({6})), (std::vector<double>{0, 7, 1, 7, 2, 7}));
  EXPECT_THROW(a.view({4, -1}), Error);
  EXPECT_THROW(a.narrow(1, 2, 2), Error);
  EXPECT_THROW(a.select(0, 2), Error);
  EXPECT_THROW(a.permute({0, 0}), Error);
}

TEST(Tensor, ExpandAndCopyBroadcast) {
  Tensor v = tensor({1.f, 2.f, 3.f});
  Tensor e = v.expand({2, 3});
  EXPECT_EQ(e.strides(), (Shape{0, 1}));
  EXPECT_EQ(to_double_vector(e), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  EXPECT_THROW(v.expand({2, 4}), Error);
  Tensor dst = zeros({2, 3}, kFloat64);
  dst.copy_(v);
  EXPECT_EQ(to_double_vector(dst), (std::vector<double>{1, 2, 3, 1, 2, 3}));
  EXPECT_THROW(dst.copy_(ones({2})), Error);
}

TEST(Tensor, DtypeConversionCloneDetach) {
  Tensor a = tensor({1.5f, -2.5f});
  EXPECT_EQ(to_int64_vector(a.to(kInt64)), (std::vector<int64_t>{1, -2}));
  EXPECT_TRUE(all_equal(a.to(kFloat64).to(kFloat32), a));
  Tensor c = a.clone();
  c.fill_(0);
  EXPECT_EQ(to_double_vector(a), (std::vector<double>{1.5, -2.5}));
  Tensor b = tensor(std::vector<bool>{true, false});
  EXPECT_EQ(b.dtype(), kBool);
  EXPECT_EQ(to_double_vector(b.to(kFloat32)), (std::vector<double>{1, 0}));
  Tensor d = a.detach();
  EXPECT_EQ(d.storage(), a.storage());
}

TEST(Tensor, FromBlobWrapsWithoutCopy) {
  std::vector<float> buf = {1, 2, 3, 4};
  bool freed = false;
  {
    Tensor t = from_blob(buf.data(), {2, 2}, {}, kFloat32, [&](void*) { freed = true; });
    EXPECT_EQ(t.data_ptr<float>(), buf.data());
    EXPECT_EQ(to_double_vector(t.t()), (std::vector<double>{1, 3, 2, 4}));
  }
  EXPECT_TRUE(freed);
}

TEST(Tensor, CachingAllocatorReusesBigBlocks) {
  { Tensor a = empty({1 << 20}); }
  const auto before = allocator_stats().os_allocations;
  for (int i = 0; i < 10; ++i) Tensor b = empty({1 << 20});
  EXPECT_EQ(allocator_stats().os_allocations, before);
}

TEST(Tensor, Printing) {
  std::string s = tensor({1.f, 2.f}).to_string();
  EXPECT_NE(s.find("[1, 2]"), std::string::npos) << s;
}

}  // namespace
}  // namespace attn

namespace attn {
namespace {
TEST(Tensor, ZeroDimViews) {
  Tensor s = scalar_tensor(4.0);
  EXPECT_EQ(s.view({1}).shape(), (Shape{1}));
  EXPECT_EQ(s.reshape({1, 1}).shape(), (Shape{1, 1}));
  EXPECT_EQ(s.view({1}).view({}).item(), 4.0);
}
}  // namespace
}  // namespace attn
