// nn::Module: registration, traversal in PyTorch's order, state_dict / load_state_dict, modes.
#include "attn/nn/module.h"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <sstream>
#include <typeinfo>

#include "attn/core/autograd.h"

namespace attn::nn {

namespace {

std::string join_name(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", \"" : "\"") + names[i] + "\"";
  return s;
}

// Points the TensorImpl behind `t` at `src`'s storage, keeping every handle to `t` valid (what
// PyTorch does with `param.data = new_data`).
void rebind(const Tensor& t, const Tensor& src) {
  TensorImpl& im = t.impl();
  im.storage = src.storage();
  im.offset = src.storage_offset();
  im.shape = src.shape();
  im.strides = src.strides();
  im.dtype = src.dtype();
  im.grad = nullptr;
}

}  // namespace

// --- registration -----------------------------------------------------------------------------

void Module::check_new_name(const std::string& name, const char* what) const {
  ATTN_CHECK(!name.empty(), what, ": empty name in ", type_name());
  ATTN_CHECK(name.find('.') == std::string::npos, what, ": name \"", name, "\" in ", type_name(),
             " contains \".\" (dots separate the levels of nested names)");
  for (const auto& [n, t] : params_)
    ATTN_CHECK(n != name, what, ": \"", name, "\" is already a parameter of ", type_name());
  for (const auto& b : buffers_)
    ATTN_CHECK(b.name != name, what, ": \"", name, "\" is already a buffer of ", type_name());
  for (const auto& [n, m] : children_)
    ATTN_CHECK(n != name, what, ": \"", name, "\" is already a submodule of ", type_name());
}

Tensor Module::register_parameter(const std::string& name, const Tensor& t, bool requires_grad) {
  check_new_name(name, "register_parameter");
  ATTN_CHECK(t.defined(), "register_parameter: \"", name, "\" in ", type_name(), " is an undefined tensor");
  ATTN_CHECK(!requires_grad || t.is_floating_point(), "register_parameter: \"", name, "\" in ", type_name(),
             " must be floating point to require grad, got ", t.describe());
  Tensor p = t.is_leaf() ? t : t.detach();
  p.requires_grad_(requires_grad);
  params_.emplace_back(name, p);
  return p;
}

Tensor Module::replace_parameter(const std::string& name, const Tensor& t) {
  ATTN_CHECK(t.defined() && t.is_leaf(), "replace_parameter: \"", name, "\" in ", type_name(),
             " needs a defined leaf tensor (a parameter of another module, or a detached tensor)");
  for (auto& [n, p] : params_)
    if (n == name) return p = t;
  ATTN_FAIL("replace_parameter: ", type_name(), " has no parameter \"", name, "\"");
}

Tensor Module::register_buffer(const std::string& name, const Tensor& t, bool persistent) {
  check_new_name(name, "register_buffer");
  ATTN_CHECK(t.defined(), "register_buffer: \"", name, "\" in ", type_name(), " is an undefined tensor");
  Tensor b = t.is_leaf() && !t.requires_grad() ? t : t.detach();
  buffers_.push_back({name, b, persistent});
  return b;
}

void Module::register_module_impl(const std::string& name, ModulePtr module) {
  check_new_name(name, "register_module");
  ATTN_CHECK(module != nullptr, "register_module: \"", name, "\" in ", type_name(), " is a null module");
  ATTN_CHECK(module.get() != this, "register_module: ", type_name(), " cannot be its own child \"", name, "\"");
  children_.emplace_back(name, std::move(module));
}

void Module::replace_module(const std::string& name, ModulePtr module) {
  ATTN_CHECK(module != nullptr, "replace_module: \"", name, "\" in ", type_name(), " is a null module");
  for (auto& [n, m] : children_)
    if (n == name) {
      m = std::move(module);
      return;
    }
  ATTN_FAIL("replace_module: ", type_name(), " has no submodule \"", name, "\"");
}

// --- traversal --------------------------------------------------------------------------------

ModulePtr Module::self_ptr() const {
  Module* self = const_cast<Module*>(this);
  if (auto p = self->weak_from_this().lock()) return p;
  return ModulePtr(ModulePtr(), self);  // aliasing constructor with no owner: non-owning
}

void Module::walk(const std::string& prefix, const ModulePtr& self, NamedModules& out,
                  std::vector<const Module*>& seen) const {
  if (std::find(seen.begin(), seen.end(), this) != seen.end()) return;
  seen.push_back(this);
  out.emplace_back(prefix, self);
  for (const auto& [name, child] : children_) child->walk(join_name(prefix, name), child, out, seen);
}

NamedModules Module::named_modules(const std::string& prefix) const {
  NamedModules out;
  std::vector<const Module*> seen;
  walk(prefix, self_ptr(), out, seen);
  return out;
}

std::vector<ModulePtr> Module::modules() const {
  std::vector<ModulePtr> out;
  for (auto& [n, m] : named_modules()) out.push_back(m);
  return out;
}

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (const auto& [n, m] : children_)
    if (std::find(out.begin(), out.end(), m) == out.end()) out.push_back(m);
  return out;
}

NamedTensors Module::named_parameters(bool recurse) const {
  if (!recurse) return params_;
  NamedTensors out;
  std::vector<const TensorImpl*> seen;
  for (const auto& [prefix, m] : named_modules())
    for (const auto& [name, p] : m->params_) {
      if (std::find(seen.begin(), seen.end(), p.impl_ptr().get()) != seen.end()) continue;
      seen.push_back(p.impl_ptr().get());
      out.emplace_back(join_name(prefix, name), p);
    }
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, p] : named_parameters(recurse)) out.push_back(p);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  std::vector<const TensorImpl*> seen;
  const NamedModules mods = recurse ? named_modules() : NamedModules{{"", self_ptr()}};
  for (const auto& [prefix, m] : mods)
    for (const auto& b : m->buffers_) {
      if (std::find(seen.begin(), seen.end(), b.value.impl_ptr().get()) != seen.end()) continue;
      seen.push_back(b.value.impl_ptr().get());
      out.emplace_back(join_name(prefix, b.name), b.value);
    }
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, b] : named_buffers(recurse)) out.push_back(b);
  return out;
}

const Module* Module::resolve(const std::string& target, std::string& last, const char* what) const {
  const Module* m = this;
  size_t start = 0;
  for (size_t dot; (dot = target.find('.', start)) != std::string::npos; start = dot + 1) {
    const std::string part = target.substr(start, dot - start);
    const Module* next = nullptr;
    for (const auto& [n, c] : m->children_)
      if (n == part) next = c.get();
    ATTN_CHECK(next != nullptr, what, "(\"", target, "\"): ", m->type_name(), " has no submodule \"", part, "\"");
    m = next;
  }
  last = target.substr(start);
  return m;
}

Tensor Module::get_parameter(const std::string& target) const {
  std::string last;
  const Module* m = resolve(target, last, "get_parameter");
  for (const auto& [n, p] : m->params_)
    if (n == last) return p;
  ATTN_FAIL("get_parameter(\"", target, "\"): ", m->type_name(), " has no parameter \"", last, "\"");
}

Tensor Module::get_buffer(const std::string& target) const {
  std::string last;
  const Module* m = resolve(target, last, "get_buffer");
  for (const auto& b : m->buffers_)
    if (b.name == last) return b.value;
  ATTN_FAIL("get_buffer(\"", target, "\"): ", m->type_name(), " has no buffer \"", last, "\"");
}

ModulePtr Module::get_submodule(const std::string& target) const {
  if (target.empty()) return self_ptr();
  std::string last;
  const Module* m = resolve(target, last, "get_submodule");
  for (const auto& [n, c] : m->children_)
    if (n == last) return c;
  ATTN_FAIL("get_submodule(\"", target, "\"): ", m->type_name(), " has no submodule \"", last, "\"");
}

// --- state ------------------------------------------------------------------------------------

void Module::collect_state(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [n, p] : params_) out.emplace_back(prefix + n, p.detach());
  for (const auto& b : buffers_)
    if (b.persistent) out.emplace_back(prefix + b.name, b.value.detach());
  for (const auto& [n, c] : children_) c->collect_state(prefix + n + ".", out);
}

NamedTensors Module::state_dict() const {
  NamedTensors out;
  collect_state("", out);
  return out;
}

LoadStateDictResult Module::load_state_dict(const NamedTensors& state_dict, bool strict) {
  std::map<std::string, const Tensor*> given;
  std::vector<std::string> duplicates;
  for (const auto& [k, t] : state_dict) {
    ATTN_CHECK(t.defined(), "load_state_dict: the value for \"", k, "\" is an undefined tensor");
    if (!given.emplace(k, &t).second) duplicates.push_back(k);
  }
  ATTN_CHECK(duplicates.empty(), "load_state_dict: key(s) given more than once: ", quoted_list(duplicates));

  const NamedTensors own = this->state_dict();
  LoadStateDictResult res;
  std::vector<std::string> mismatches;
  std::map<std::string, bool> expected;
  for (const auto& [k, t] : own) {
    expected[k] = true;
    auto it = given.find(k);
    if (it == given.end()) {
      res.missing_keys.push_back(k);
      continue;
    }
    const Tensor& src = *it->second;
    if (src.shape() != t.shape() || src.dtype() != t.dtype())
      mismatches.push_back(detail::str_cat("size or dtype mismatch for ", k, ": copying a param of ", src.describe(),
                                           " from checkpoint, the one in the current model is ", t.describe()));
  }
  for (const auto& [k, t] : state_dict)
    if (!expected.count(k)) res.unexpected_keys.push_back(k);

  const bool fail = !mismatches.empty() || (strict && (!res.missing_keys.empty() || !res.unexpected_keys.empty()));
  if (fail) {
    std::ostringstream os;
    os << "load_state_dict: error(s) in loading state_dict for " << type_name() << ":";
    if (strict && !res.missing_keys.empty()) os << "\n  Missing key(s) in state_dict: " << quoted_list(res.missing_keys) << ".";
    if (strict && !res.unexpected_keys.empty())
      os << "\n  Unexpected key(s) in state_dict: " << quoted_list(res.unexpected_keys) << ".";
    for (const auto& m : mismatches) os << "\n  " << m << ".";
    os << "\n  Nothing was loaded.";
    throw Error(os.str());
  }
  // Checked everything first, so a failing load leaves the module untouched.
  NoGradGuard ng;
  for (const auto& [k, t] : own) {
    auto it = given.find(k);
    if (it != given.end()) Tensor(t).copy_(*it->second);
  }
  return res;
}

// --- modes and housekeeping -------------------------------------------------------------------

Module& Module::train(bool on) {
  for (auto& [n, m] : named_modules()) m->training_ = on;
  return *this;
}

void Module::zero_grad(bool set_to_none) {
  // set_to_none = false writes a fresh zero tensor rather than zeroing in place: the old gradient
  // may be a tensor the caller still holds.
  for (auto& p : parameters())
    if (p.grad().defined()) p.set_grad(set_to_none ? Tensor() : zeros_like(p));
}

int64_t Module::num_parameters(bool only_trainable) const {
  int64_t n = 0;
  for (auto& p : parameters())
    if (!only_trainable || p.requires_grad()) n += p.numel();
  return n;
}

Module& Module::to(DType dtype) {
  ATTN_CHECK(is_floating_point(dtype), "Module::to: only floating-point dtypes are supported, got ", dtype);
  auto convert = [&](const Tensor& t) {
    if (t.is_floating_point() && t.dtype() != dtype) rebind(t, t.detach().to(dtype));
  };
  for (auto& [n, m] : named_modules()) {
    for (auto& [pn, p] : m->params_) convert(p);
    for (auto& b : m->buffers_) convert(b.value);
  }
  return *this;
}

Module& Module::apply(const std::function<void(Module&)>& fn) {
  for (auto& c : children()) c->apply(fn);
  fn(*this);
  return *this;
}

std::string Module::type_name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* dem = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string name = status == 0 && dem ? dem : mangled;
  std::free(dem);
  // "attn::nn::Linear" -> "Linear"; template arguments are kept whole.
  const size_t lt = name.find('<');
  const size_t colon = name.rfind("::", lt == std::string::npos ? std::string::npos : lt);
  return colon == std::string::npos ? name : name.substr(colon + 2);
}

std::string Module::to_string() const {
  std::string extra = extra_repr();
  if (children_.empty()) return type_name() + "(" + extra + ")";
  std::ostringstream os;
  os << type_name() << "(";
  auto indent = [](const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\n' ? std::string("\n  ") : std::string(1, c);
    return out;
  };
  if (!extra.empty()) os << "\n  " << indent(extra);
  for (const auto& [n, c] : children_) os << "\n  (" << n << "): " << indent(c->to_string());
  os << "\n)";
  return os.str();
}

}  // namespace attn::nn
