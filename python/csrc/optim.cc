// attn.optim: optimizers, learning-rate schedulers and gradient clipping (attn/optim/*.h).
// Optimizers take an iterable of tensors (module.parameters()) or of param-group dicts
// ({"params": [...], "lr": ...}), as torch.optim does; python/attn/optim/__init__.py adds the
// param_groups view that schedulers and users read and write.
#include <pybind11/functional.h>

#include <cmath>
#include <limits>

#include "attn/optim/optim.h"

#include "common.h"

namespace attn::python {
namespace {

// One option of an Options struct, by name, for param-group dicts.
template <class Opt>
struct OptionField {
  const char* name;
  std::function<py::object(const Opt&)> get;
  std::function<void(Opt&, py::handle)> set;
};

#define ATTN_FIELD(Opt, field, type)                                        \
  OptionField<Opt> {                                                        \
    #field, [](const Opt& o) { return py::cast(o.field); },                 \
        [](Opt& o, py::handle v) { o.field = v.cast<type>(); }              \
  }

template <class Opt>
const std::vector<OptionField<Opt>>& fields();

template <>
const std::vector<OptionField<optim::SGDOptions>>& fields() {
  using O = optim::SGDOptions;
  static const std::vector<OptionField<O>> f = {ATTN_FIELD(O, lr, double),           ATTN_FIELD(O, momentum, double),
                                                ATTN_FIELD(O, dampening, double),    ATTN_FIELD(O, weight_decay, double),
                                                ATTN_FIELD(O, nesterov, bool),       ATTN_FIELD(O, maximize, bool)};
  return f;
}

template <>
const std::vector<OptionField<optim::AdamOptions>>& fields() {
  using O = optim::AdamOptions;
  static const std::vector<OptionField<O>> f = {
      ATTN_FIELD(O, lr, double),           ATTN_FIELD(O, eps, double),     ATTN_FIELD(O, weight_decay, double),
      ATTN_FIELD(O, amsgrad, bool),        ATTN_FIELD(O, maximize, bool),
      OptionField<O>{"betas", [](const O& o) -> py::object { return py::make_tuple(o.betas.first, o.betas.second); },
                     [](O& o, py::handle v) { o.betas = v.cast<std::pair<double, double>>(); }}};
  return f;
}

template <class Opt>
void set_option(Opt& o, const std::string& key, py::handle v, const char* who) {
  for (const auto& f : fields<Opt>())
    if (key == f.name) return f.set(o, v);
  std::string known;
  for (const auto& f : fields<Opt>()) known += std::string(known.empty() ? "" : ", ") + f.name;
  throw py::key_error(std::string(who) + ": unknown option '" + key + "' (options: " + known + ")");
}

std::vector<Tensor> tensor_list(py::handle h) {
  if (py::isinstance<Tensor>(h)) return {h.cast<Tensor>()};
  std::vector<Tensor> out;
  for (py::handle x : py::iter(h)) out.push_back(x.cast<Tensor>());
  return out;
}

// params: tensors, or dicts {"params": tensors, option: value, ...} overriding `defaults`.
template <class Opt>
std::vector<optim::ParamGroup<Opt>> parse_groups(py::handle params, const Opt& defaults, const char* who) {
  py::list items;
  if (py::isinstance<Tensor>(params)) items.append(params);
  else
    for (py::handle x : py::iter(params)) items.append(x);
  std::vector<optim::ParamGroup<Opt>> groups;
  if (items.size() > 0 && py::isinstance<py::dict>(items[0])) {
    for (py::handle g : items) {
      auto d = py::reinterpret_borrow<py::dict>(g);
      if (!d.contains("params")) throw py::key_error(std::string(who) + ": a param group needs a 'params' entry");
      optim::ParamGroup<Opt> pg{tensor_list(d["params"]), defaults};
      for (auto [k, v] : d) {
        const std::string key = py::str(k).template cast<std::string>();
        if (key != "params") set_option(pg.options, key, v, who);
      }
      groups.push_back(std::move(pg));
    }
  } else {
    groups.push_back({tensor_list(items), defaults});
  }
  return groups;
}

// _group_options(g) / _set_group_option(g, key, value) for an optimizer with Options `Opt`.
template <class Opt, class Cls>
void bind_group_options(Cls& cls, const char* who) {
  using Base = typename Cls::type;  // the bound class (its base template is not a registered type)
  cls.def("_group_options", [](const Base& o, size_t g) {
    py::dict d;
    const auto& groups = o.param_groups();
    if (g >= groups.size()) throw py::index_error("param group " + std::to_string(g) + " out of range");
    for (const auto& f : fields<Opt>()) d[f.name] = f.get(groups[g].options);
    return d;
  });
  cls.def("_set_group_option", [who](Base& o, size_t g, const std::string& key, py::handle v) {
    auto& groups = o.param_groups();
    if (g >= groups.size()) throw py::index_error("param group " + std::to_string(g) + " out of range");
    set_option(groups[g].options, key, v, who);
  });
}

py::dict state_to_dict(const optim::StateDict& sd) {
  py::dict d;
  for (const auto& [k, t] : sd) d[py::str(k)] = py::cast(t);
  return d;
}

optim::StateDict state_from_dict(py::handle h) {
  optim::StateDict sd;
  for (auto [k, v] : py::reinterpret_borrow<py::dict>(h)) sd.emplace_back(k.cast<std::string>(), as_tensor(v));
  return sd;
}

double norm_type_arg(py::handle h) {
  if (py::isinstance<py::str>(h)) {
    const std::string s = h.cast<std::string>();
    if (s == "inf") return std::numeric_limits<double>::infinity();
    throw py::value_error("norm_type must be a number or 'inf', got '" + s + "'");
  }
  return h.cast<double>();
}

}  // namespace

void bind_optim(py::module_& m) {
  py::module_ om = m.def_submodule("optim", "C++ optimizers and schedulers (wrapped by attn.optim)");

  py::class_<optim::Optimizer, std::shared_ptr<optim::Optimizer>>(om, "Optimizer")
      .def("step", [](optim::Optimizer& o, py::object closure) {
        if (!closure.is_none()) throw py::value_error("step(closure) is not supported (attn has no closure-based optimizer)");
        py::gil_scoped_release nogil;
        o.step();
      }, py::arg("closure") = py::none())
      .def("zero_grad", &optim::Optimizer::zero_grad, py::arg("set_to_none") = true)
      .def("state_dict", [](const optim::Optimizer& o) { return state_to_dict(o.state_dict()); })
      .def("load_state_dict", [](optim::Optimizer& o, py::handle sd) { o.load_state_dict(state_from_dict(sd)); },
           py::arg("state_dict"))
      .def("_num_param_groups", &optim::Optimizer::num_param_groups)
      .def("_group_params", &optim::Optimizer::group_params)
      .def("_group_lr", &optim::Optimizer::group_lr)
      .def("_set_group_lr", &optim::Optimizer::set_group_lr);

  py::class_<optim::SGD, optim::Optimizer, std::shared_ptr<optim::SGD>> sgd(om, "SGD", "torch.optim.SGD");
  sgd.def(py::init([](py::object params, double lr, double momentum, double dampening, double weight_decay,
                      bool nesterov, bool maximize) {
    optim::SGDOptions d{lr, momentum, dampening, weight_decay, nesterov, maximize};
    return std::make_shared<optim::SGD>(parse_groups(params, d, "SGD"));
  }), py::arg("params"), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
      py::arg("weight_decay") = 0.0, py::arg("nesterov") = false, py::kw_only(), py::arg("maximize") = false);
  bind_group_options<optim::SGDOptions>(sgd, "SGD");

  py::class_<optim::Adam, optim::Optimizer, std::shared_ptr<optim::Adam>> adam(om, "Adam", "torch.optim.Adam");
  adam.def(py::init([](py::object params, double lr, std::pair<double, double> betas, double eps, double weight_decay,
                       bool amsgrad, bool maximize) {
    optim::AdamOptions d{lr, betas, eps, weight_decay, amsgrad, maximize};
    return std::make_shared<optim::Adam>(parse_groups(params, d, "Adam"));
  }), py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
      py::arg("weight_decay") = 0.0, py::arg("amsgrad") = false, py::kw_only(), py::arg("maximize") = false);
  bind_group_options<optim::AdamOptions>(adam, "Adam");

  // AdamW's groups hold AdamWOptions, a different type from Adam's; it converts to AdamOptions.
  py::class_<optim::AdamW, optim::Adam, std::shared_ptr<optim::AdamW>>(om, "AdamW", "torch.optim.AdamW")
      .def(py::init([](py::object params, double lr, std::pair<double, double> betas, double eps, double weight_decay,
                       bool amsgrad, bool maximize) {
        optim::AdamOptions d{lr, betas, eps, weight_decay, amsgrad, maximize};
        std::vector<optim::ParamGroup<optim::AdamWOptions>> groups;
        for (auto& g : parse_groups(params, d, "AdamW")) {
          const auto& o = g.options;
          groups.push_back({std::move(g.params), optim::AdamWOptions{o.lr, o.betas, o.eps, o.weight_decay, o.amsgrad, o.maximize}});
        }
        return std::make_shared<optim::AdamW>(std::move(groups));
      }), py::arg("params"), py::arg("lr") = 1e-3, py::arg("betas") = std::make_pair(0.9, 0.999), py::arg("eps") = 1e-8,
          py::arg("weight_decay") = 1e-2, py::arg("amsgrad") = false, py::kw_only(), py::arg("maximize") = false);

  // --- schedulers: each keeps its optimizer alive (it holds a reference to it) -----------------
  py::module_ sched = om.def_submodule("lr_scheduler", "torch.optim.lr_scheduler");
  py::class_<optim::LRScheduler, std::shared_ptr<optim::LRScheduler>>(sched, "LRScheduler")
      .def("step", &optim::LRScheduler::step)
      .def("get_last_lr", &optim::LRScheduler::get_last_lr)
      .def_property_readonly("base_lrs", &optim::LRScheduler::base_lrs)
      .def_property_readonly("last_epoch", &optim::LRScheduler::last_epoch)
      .def("state_dict", [](const optim::LRScheduler& s) { return state_to_dict(s.state_dict()); })
      .def("load_state_dict", [](optim::LRScheduler& s, py::handle sd) { s.load_state_dict(state_from_dict(sd)); },
           py::arg("state_dict"));
  py::class_<optim::StepLR, optim::LRScheduler, std::shared_ptr<optim::StepLR>>(sched, "StepLR")
      .def(py::init([](optim::Optimizer& o, int64_t step_size, double gamma) {
        return std::make_shared<optim::StepLR>(o, step_size, gamma);
      }), py::arg("optimizer"), py::arg("step_size"), py::arg("gamma") = 0.1, py::keep_alive<1, 2>());
  py::class_<optim::CosineAnnealingLR, optim::LRScheduler, std::shared_ptr<optim::CosineAnnealingLR>>(sched, "CosineAnnealingLR")
      .def(py::init([](optim::Optimizer& o, int64_t t_max, double eta_min) {
        return std::make_shared<optim::CosineAnnealingLR>(o, t_max, eta_min);
      }), py::arg("optimizer"), py::arg("T_max"), py::arg("eta_min") = 0.0, py::keep_alive<1, 2>());
  py::class_<optim::LinearLR, optim::LRScheduler, std::shared_ptr<optim::LinearLR>>(sched, "LinearLR")
      .def(py::init([](optim::Optimizer& o, double start, double end, int64_t total) {
        return std::make_shared<optim::LinearLR>(o, start, end, total);
      }), py::arg("optimizer"), py::arg("start_factor") = 1.0 / 3, py::arg("end_factor") = 1.0,
          py::arg("total_iters") = 5, py::keep_alive<1, 2>());
  // The lambdas are Python callables run by step(), which therefore keeps the GIL.
  py::class_<optim::LambdaLR, optim::LRScheduler, std::shared_ptr<optim::LambdaLR>>(sched, "LambdaLR")
      .def(py::init([](optim::Optimizer& o, py::object fns) {
        if (PyCallable_Check(fns.ptr())) return std::make_shared<optim::LambdaLR>(o, fns.cast<optim::LambdaLR::Lambda>());
        return std::make_shared<optim::LambdaLR>(o, fns.cast<std::vector<optim::LambdaLR::Lambda>>());
      }), py::arg("optimizer"), py::arg("lr_lambda"), py::keep_alive<1, 2>());
  py::class_<optim::NoamLR, optim::LRScheduler, std::shared_ptr<optim::NoamLR>>(sched, "NoamLR")
      .def(py::init([](optim::Optimizer& o, int64_t d_model, int64_t warmup, double factor) {
        return std::make_shared<optim::NoamLR>(o, d_model, warmup, factor);
      }), py::arg("optimizer"), py::arg("d_model"), py::arg("warmup_steps"), py::arg("factor") = 1.0,
          py::keep_alive<1, 2>())
      .def_static("rate", &optim::NoamLR::rate, py::arg("step"), py::arg("d_model"), py::arg("warmup_steps"),
                  py::arg("factor") = 1.0);

  // --- clipping (torch.nn.utils) -----------------------------------------------------------------
  om.def("clip_grad_norm_", [](py::object params, double max_norm, py::object norm_type, bool error_if_nonfinite) {
    std::vector<Tensor> ps = tensor_list(params);
    const double p = norm_type_arg(norm_type);
    double total;
    {
      py::gil_scoped_release nogil;
      total = optim::clip_grad_norm_(ps, max_norm, p, error_if_nonfinite);
    }
    // torch returns the total norm as a 0-d tensor of the gradients' dtype.
    DType dt = kFloat32;
    for (const Tensor& t : ps)
      if (t.grad().defined()) {
        dt = t.grad().dtype();
        break;
      }
    return scalar_tensor(total, dt);
  }, py::arg("parameters"), py::arg("max_norm"), py::arg("norm_type") = 2.0, py::arg("error_if_nonfinite") = false);
  om.def("clip_grad_value_", [](py::object params, double clip_value) {
    std::vector<Tensor> ps = tensor_list(params);
    py::gil_scoped_release nogil;
    optim::clip_grad_value_(ps, clip_value);
  }, py::arg("parameters"), py::arg("clip_value"));
}

}  // namespace attn::python
