// nn::Module: the base of every layer, as torch.nn.Module. A module owns named parameters
// (tensors that require grad and that optimisers update), named buffers (state that is saved but
// not trained, e.g. running statistics or position ids) and named child modules. Names compose
// with dots in registration order, exactly like PyTorch's state_dict, so an attn model and the
// equivalent PyTorch model have the same keys ("encoder.layers.0.linear1.weight") and checkpoints
// map 1:1.
//
// What it deliberately is not: there is no virtual forward. Each concrete module declares its own
// `forward(...)` with the arguments it needs (and an operator() that calls it); containers that
// chain modules (Sequential) capture the concrete forward when a module is added, so a module
// without a one-tensor forward fails to compile there instead of failing at run time.
//
// Modules are held by std::shared_ptr and created with std::make_shared; registering a child
// stores the same pointer, so `auto fc = register_module("fc", std::make_shared<Linear>(4, 3))`
// and `named_modules()` see one object. Parameter handles share their TensorImpl with the
// registry, so in-place updates (load_state_dict, optimisers, to(dtype)) are visible through
// every handle, including the public `weight` / `bias` members of the concrete modules.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module;
using ModulePtr = std::shared_ptr<Module>;
using NamedModules = std::vector<std::pair<std::string, ModulePtr>>;

// Keys that load_state_dict(strict = false) skipped, as PyTorch's _IncompatibleKeys.
struct LoadStateDictResult {
  std::vector<std::string> missing_keys;     // expected by the module, absent from the dict
  std::vector<std::string> unexpected_keys;  // in the dict, unknown to the module
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  virtual ~Module() = default;
  Module(const Module&) = delete;  // a copy would silently share or split parameters
  Module& operator=(const Module&) = delete;

  // --- registration (names: non-empty, no '.', unique among this module's parameters, buffers
  // and children; violations throw attn::Error naming the module and the name) ------------------

  // Stores `t` as a parameter with requires_grad set and returns the stored handle. A leaf is
  // stored as is (the same TensorImpl, so it can be shared with another module); a tensor with
  // history is detached first, since a parameter is a leaf. Must be floating point when
  // requires_grad is true.
  Tensor register_parameter(const std::string& name, const Tensor& t, bool requires_grad = true);
  // Points an existing parameter entry at `t` (a leaf), e.g. to tie weights:
  //   decoder->weight = decoder->replace_parameter("weight", embedding->weight);
  // The concrete module's member must be reassigned too, as in the example.
  Tensor replace_parameter(const std::string& name, const Tensor& t);
  // A non-persistent buffer is moved by to(dtype) but left out of state_dict (PyTorch's
  // persistent=False).
  Tensor register_buffer(const std::string& name, const Tensor& t, bool persistent = true);
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    register_module_impl(name, module);
    return module;
  }

  // --- traversal (PyTorch's order: registration order, depth first, parent before children) --

  // Dotted names; with recurse, each parameter appears once even when shared between modules
  // (under the first name reached), as torch's named_parameters(remove_duplicate=True).
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedModules named_children() const { return children_; }
  std::vector<ModulePtr> children() const;
  // This module first (name ""), then every descendant once, pre-order.
  NamedModules named_modules(const std::string& prefix = "") const;
  std::vector<ModulePtr> modules() const;
  // Lookup by dotted name ("encoder.layers.0.linear1.weight"); throws when it does not exist.
  Tensor get_parameter(const std::string& target) const;
  Tensor get_buffer(const std::string& target) const;
  ModulePtr get_submodule(const std::string& target) const;

  // --- state ---------------------------------------------------------------------------------

  // Parameters and persistent buffers, as torch's state_dict(): for each module, its parameters,
  // then its buffers, then its children's entries. Shared tensors appear under every name. The
  // tensors are detached views of the live values (no copy).
  NamedTensors state_dict() const;
  // Copies values in place, converting nothing. Throws attn::Error before copying anything when
  // any key's shape or dtype differs (both are named), when a key appears twice, or, with strict,
  // when keys are missing or unexpected (all are listed). Without strict, returns what was skipped.
  LoadStateDictResult load_state_dict(const NamedTensors& state_dict, bool strict = true);

  // --- modes and housekeeping ----------------------------------------------------------------

  // Sets training mode on this module and all descendants (Dropout reads it).
  Module& train(bool on = true);
  Module& eval() { return train(false); }
  bool is_training() const { return training_; }
  // set_to_none (the default, as PyTorch 2's zero_grad): gradients become undefined, so the next
  // backward writes instead of adding; false: gradients are zero-filled in place.
  void zero_grad(bool set_to_none = true);
  // Number of parameter elements (each shared parameter counted once).
  int64_t num_parameters(bool only_trainable = false) const;
  // Converts floating-point parameters and buffers to `dtype` in place (integer buffers keep
  // theirs), keeping every handle valid; gradients are dropped.
  Module& to(DType dtype);
  // Calls fn on every descendant, children first, then on this module (torch's apply).
  Module& apply(const std::function<void(Module&)>& fn);

  // PyTorch-style printout: "Linear(in_features=4, out_features=3, bias=True)", children indented.
  std::string to_string() const;
  // The class name without namespaces (from RTTI); override for a different display name.
  virtual std::string type_name() const;
  virtual std::string extra_repr() const { return ""; }

 protected:
  // Children of containers (Sequential, ModuleList) can be replaced by index.
  void replace_module(const std::string& name, ModulePtr module);

 private:
  struct Buffer {
    std::string name;
    Tensor value;
    bool persistent;
  };
  void register_module_impl(const std::string& name, ModulePtr module);
  void check_new_name(const std::string& name, const char* what) const;
  void collect_state(const std::string& prefix, NamedTensors& out) const;
  // Pre-order walk, each module once (the first name reached wins).
  void walk(const std::string& prefix, const ModulePtr& self, NamedModules& out, std::vector<const Module*>& seen) const;
  // A pointer to this module: shared when it is owned by a shared_ptr, non-owning otherwise (a
  // module on the stack can still be traversed).
  ModulePtr self_ptr() const;
  const Module* resolve(const std::string& target, std::string& last, const char* what) const;

  NamedTensors params_;
  std::vector<Buffer> buffers_;
  NamedModules children_;
  bool training_ = true;
};

}  // namespace attn::nn
