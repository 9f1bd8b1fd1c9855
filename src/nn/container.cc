// Sequential and ModuleList.
#include "attn/nn/container.h"

namespace attn::nn {

namespace {
int64_t wrap_index(int64_t index, int64_t size, const char* what) {
  ATTN_CHECK(index >= -size && index < size, what, ": index ", index, " is out of range for ", size, " modules");
  return index < 0 ? index + size : index;
}
}  // namespace

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& f : forwards_) h = f(h);
  return h;
}

ModulePtr Sequential::operator[](int64_t index) const {
  return modules_[size_t(wrap_index(index, size(), "Sequential"))];
}

ModulePtr ModuleList::operator[](int64_t index) const {
  return modules_[size_t(wrap_index(index, size(), "ModuleList"))];
}

}  // namespace attn::nn
