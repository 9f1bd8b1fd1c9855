// Containers: Sequential (a chain of one-tensor modules) and ModuleList (an indexable list of
// modules that the owner calls however it likes), as torch.nn.Sequential / nn.ModuleList. Both
// name their children "0", "1", ... so state_dict keys match PyTorch ("layers.0.linear1.weight").
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "attn/nn/module.h"

namespace attn::nn {

// Applies its modules in order: forward(x) = m_n(...m_1(m_0(x))). A module is accepted when it
// has `Tensor forward(const Tensor&)`; the call is captured when it is added (no virtual forward).
class Sequential : public Module {
 public:
  Sequential() = default;
  template <class... Ms>
  explicit Sequential(std::shared_ptr<Ms>... modules) {
    (push_back(std::move(modules)), ...);
  }

  // Appends under the next index as name ("0", "1", ...), or under an explicit name.
  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    return push_back(std::to_string(forwards_.size()), std::move(module));
  }
  template <class M>
  std::shared_ptr<M> push_back(const std::string& name, std::shared_ptr<M> module) {
    register_module(name, module);
    M* raw = module.get();  // the registry keeps the module alive as long as this Sequential
    forwards_.push_back([raw](const Tensor& x) { return raw->forward(x); });
    modules_.push_back(module);
    return module;
  }

  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  int64_t size() const { return int64_t(modules_.size()); }
  bool empty() const { return modules_.empty(); }
  // Index from the front, or from the back when negative (as Python); throws when out of range.
  ModulePtr operator[](int64_t index) const;
  template <class M>
  std::shared_ptr<M> at(int64_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    ATTN_CHECK(m != nullptr, "Sequential::at(", index, "): the module is a ", (*this)[index]->type_name(),
               ", not the requested type");
    return m;
  }

 private:
  std::vector<std::function<Tensor(const Tensor&)>> forwards_;
  std::vector<ModulePtr> modules_;
};

// Holds submodules in a list; it has no forward of its own.
class ModuleList : public Module {
 public:
  ModuleList() = default;
  explicit ModuleList(std::vector<ModulePtr> modules) {
    for (auto& m : modules) push_back(std::move(m));
  }

  template <class M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(modules_.size()), module);
    modules_.push_back(module);
    return module;
  }

  int64_t size() const { return int64_t(modules_.size()); }
  bool empty() const { return modules_.empty(); }
  ModulePtr operator[](int64_t index) const;
  template <class M>
  std::shared_ptr<M> at(int64_t index) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[index]);
    ATTN_CHECK(m != nullptr, "ModuleList::at(", index, "): the module is a ", (*this)[index]->type_name(),
               ", not the requested type");
    return m;
  }
  std::vector<ModulePtr>::const_iterator begin() const { return modules_.begin(); }
  std::vector<ModulePtr>::const_iterator end() const { return modules_.end(); }

 private:
  std::vector<ModulePtr> modules_;
};

}  // namespace attn::nn
