// attn.nn: the C++ Module registry (attn/nn/module.h) and the C++ layers, exposed so that Python
// subclasses of attn.nn.Module are C++ modules too. Parameters, buffers and children assigned
// as attributes are registered in the C++ registry (python/attn/nn/modules.py does that in
// __setattr__), so named_parameters, state_dict, load_state_dict, train/eval, zero_grad and to()
// are the C++ implementations for every module, Python-defined or not, with PyTorch's key order.
#include "attn/nn/nn.h"

#include "common.h"

namespace attn::python {
namespace {

// Lets Python subclasses of attn.nn.Module name themselves in printouts and override extra_repr.
class PyModule : public nn::Module {
 public:
  using nn::Module::Module;
  std::string type_name() const override {
    py::gil_scoped_acquire gil;
    py::object self = py::cast(static_cast<const nn::Module*>(this), py::return_value_policy::reference);
    return py::type::of(self).attr("__name__").cast<std::string>();
  }
  std::string extra_repr() const override { PYBIND11_OVERRIDE(std::string, nn::Module, extra_repr, ); }
};

// replace_module is protected (containers use it); Python's `self.fc = other_module` needs it for
// any module. The using-declaration makes the pointer-to-member accessible here.
struct ModuleAccess : nn::Module {
  using nn::Module::replace_module;
};

py::dict to_dict(const nn::NamedTensors& items) {
  py::dict d;
  for (const auto& [name, t] : items) d[py::str(name)] = py::cast(t);
  return d;
}

// A dict (or any mapping / sequence of pairs) of name -> Tensor.
nn::NamedTensors from_mapping(py::handle state) {
  nn::NamedTensors out;
  py::object items = py::hasattr(state, "items") ? state.attr("items")() : py::reinterpret_borrow<py::object>(state);
  for (py::handle kv : items) {
    auto pair = kv.cast<py::tuple>();
    py::handle v = pair[1];
    out.emplace_back(pair[0].cast<std::string>(), py::isinstance<Tensor>(v) ? v.cast<Tensor>() : as_tensor(v));
  }
  return out;
}

py::list named_list(const nn::NamedTensors& items) {
  py::list l;
  for (const auto& [name, t] : items) l.append(py::make_tuple(name, t));
  return l;
}

py::object optional_tensor(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

}  // namespace

void bind_nn(py::module_& m) {
  py::module_ nnm = m.def_submodule("nn", "C++ modules (wrapped by attn.nn)");
  static py::object incompatible_keys = py::module_::import("collections").attr("namedtuple")(
      "IncompatibleKeys", py::make_tuple("missing_keys", "unexpected_keys"));

  using ModuleCls = py::class_<nn::Module, PyModule, std::shared_ptr<nn::Module>>;
  ModuleCls mod(nnm, "Module", py::dynamic_attr(), "Base of all layers (torch.nn.Module); see attn.nn.Module.");
  mod.def(py::init<>())
      // False until Module.__init__ ran (a subclass that assigns attributes before calling
      // super().__init__() would otherwise reach C++ through a null pointer).
      .def_static("_is_constructed", [](py::handle obj) {
        // The check pybind11 itself makes after __init__ ("__init__() must be called when
        // overriding __init__"), available here while __init__ is still running.
        auto* inst = reinterpret_cast<py::detail::instance*>(obj.ptr());
        for (auto v_h : py::detail::values_and_holders(inst))
          if (!v_h.holder_constructed()) return false;
        return true;
      })
      .def("_register_parameter", [](nn::Module& self, const std::string& name, const Tensor& t, bool requires_grad) {
        return self.register_parameter(name, t, requires_grad);
      }, py::arg("name"), py::arg("param"), py::arg("requires_grad") = true)
      .def("_register_buffer", [](nn::Module& self, const std::string& name, const Tensor& t, bool persistent) {
        return self.register_buffer(name, t, persistent);
      }, py::arg("name"), py::arg("tensor"), py::arg("persistent") = true)
      .def("_register_module", [](nn::Module& self, const std::string& name, std::shared_ptr<nn::Module> child) {
        self.register_module(name, std::move(child));
      })
      .def("_replace_module", [](nn::Module& self, const std::string& name, std::shared_ptr<nn::Module> child) {
        (self.*&ModuleAccess::replace_module)(name, std::move(child));
      })
      .def("_has_child", [](const nn::Module& self, const std::string& name) {
        for (const auto& [n, c] : self.named_children())
          if (n == name) return true;
        return false;
      })
      .def("named_parameters", [](const nn::Module& self, const std::string& prefix, bool recurse) {
        py::list l;
        for (const auto& [n, t] : self.named_parameters(recurse)) l.append(py::make_tuple(prefix.empty() ? n : prefix + "." + n, t));
        return l;
      }, py::arg("prefix") = "", py::arg("recurse") = true)
      .def("parameters", [](const nn::Module& self, bool recurse) { return self.parameters(recurse); },
           py::arg("recurse") = true)
      .def("named_buffers", [](const nn::Module& self, bool recurse) { return named_list(self.named_buffers(recurse)); },
           py::arg("recurse") = true)
      .def("buffers", [](const nn::Module& self, bool recurse) { return self.buffers(recurse); }, py::arg("recurse") = true)
      .def("named_children", [](const nn::Module& self) { return self.named_children(); })
      .def("children", [](const nn::Module& self) { return self.children(); })
      .def("named_modules", [](const nn::Module& self, const std::string& prefix) { return self.named_modules(prefix); },
           py::arg("prefix") = "")
      .def("modules", [](const nn::Module& self) { return self.modules(); })
      .def("get_parameter", &nn::Module::get_parameter, py::arg("target"))
      .def("get_buffer", &nn::Module::get_buffer, py::arg("target"))
      .def("get_submodule", &nn::Module::get_submodule, py::arg("target"))
      .def("state_dict", [](const nn::Module& self) { return to_dict(self.state_dict()); })
      .def("load_state_dict", [](nn::Module& self, py::object state, bool strict) {
        nn::NamedTensors sd = from_mapping(state);
        nn::LoadStateDictResult r;
        {
          py::gil_scoped_release nogil;
          r = self.load_state_dict(sd, strict);
        }
        return incompatible_keys(r.missing_keys, r.unexpected_keys);
      }, py::arg("state_dict"), py::arg("strict") = true)
      .def("train", [](py::object self, bool on) {
        self.cast<nn::Module&>().train(on);
        return self;
      }, py::arg("mode") = true)
      .def("eval", [](py::object self) {
        self.cast<nn::Module&>().eval();
        return self;
      })
      .def_property_readonly("training", &nn::Module::is_training)
      .def("zero_grad", &nn::Module::zero_grad, py::arg("set_to_none") = true)
      .def("num_parameters", &nn::Module::num_parameters, py::arg("only_trainable") = false)
      .def("to", [](py::object self, py::object dtype) {
        self.cast<nn::Module&>().to(to_dtype(dtype));
        return self;
      }, py::arg("dtype"))
      .def("float", [](py::object self) {
        self.cast<nn::Module&>().to(kFloat32);
        return self;
      })
      .def("double", [](py::object self) {
        self.cast<nn::Module&>().to(kFloat64);
        return self;
      })
      .def("apply", [](py::object self, py::function fn) {
        // Children first, then self (torch's order), calling fn with the Python objects.
        std::vector<nn::ModulePtr> order;
        self.cast<nn::Module&>().apply([&](nn::Module& mm) { order.push_back(mm.shared_from_this()); });
        for (auto& mp : order) fn(py::cast(mp));
        return self;
      }, py::arg("fn"))
      .def("extra_repr", &nn::Module::extra_repr)
      .def("__repr__", &nn::Module::to_string);

  py::class_<nn::Linear, nn::Module, std::shared_ptr<nn::Linear>>(nnm, "Linear", py::dynamic_attr(),
                                                                  "y = x W^T + b (torch.nn.Linear)")
      .def(py::init([](int64_t in, int64_t out, bool bias, py::object dtype) {
        return std::make_shared<nn::Linear>(in, out, bias, dtype.is_none() ? kFloat32 : to_dtype(dtype));
      }), py::arg("in_features"), py::arg("out_features"), py::arg("bias") = true, py::kw_only(),
          py::arg("dtype") = py::none())
      .def("forward", &nn::Linear::forward, py::arg("input"), release_gil())
      .def("reset_parameters", &nn::Linear::reset_parameters, py::arg("generator") = py::none())
      .def_readonly("in_features", &nn::Linear::in_features)
      .def_readonly("out_features", &nn::Linear::out_features)
      .def_property_readonly("weight", [](const nn::Linear& l) { return l.weight; })
      .def_property_readonly("bias", [](const nn::Linear& l) { return optional_tensor(l.bias); });

  py::class_<nn::Identity, nn::Module, std::shared_ptr<nn::Identity>>(nnm, "Identity", py::dynamic_attr())
      .def(py::init([](py::args, py::kwargs) { return std::make_shared<nn::Identity>(); }))
      .def("forward", &nn::Identity::forward, py::arg("input"));

  py::class_<nn::Dropout, nn::Module, std::shared_ptr<nn::Dropout>>(nnm, "Dropout", py::dynamic_attr(),
                                                                    "inverted dropout in training mode (torch.nn.Dropout)")
      .def(py::init([](double p, bool inplace) {
        if (inplace) throw py::value_error("Dropout: inplace=True is not supported");
        return std::make_shared<nn::Dropout>(p);
      }), py::arg("p") = 0.5, py::arg("inplace") = false)
      .def("forward", &nn::Dropout::forward, py::arg("input"), release_gil())
      .def_readwrite("p", &nn::Dropout::p);

  // Activations: parameter-free modules (attn/nn/activation.h).
#define ATTN_ACTIVATION(Cls, doc)                                                                    \
  py::class_<nn::Cls, nn::Module, std::shared_ptr<nn::Cls>>(nnm, #Cls, py::dynamic_attr(), doc)      \
      .def(py::init([](bool inplace) {                                                                \
        if (inplace) throw py::value_error(#Cls ": inplace=True is not supported");                  \
        return std::make_shared<nn::Cls>();                                                          \
      }), py::arg("inplace") = false)                                                                 \
      .def("forward", &nn::Cls::forward, py::arg("input"), release_gil());
  ATTN_ACTIVATION(ReLU, "max(x, 0)")
  ATTN_ACTIVATION(Tanh, "tanh(x)")
  ATTN_ACTIVATION(Sigmoid, "1 / (1 + exp(-x))")
  ATTN_ACTIVATION(SiLU, "x * sigmoid(x)")
#undef ATTN_ACTIVATION
  py::class_<nn::GELU, nn::Module, std::shared_ptr<nn::GELU>>(nnm, "GELU", py::dynamic_attr(), "x * Phi(x)")
      .def(py::init([](const std::string& approximate) { return std::make_shared<nn::GELU>(approximate); }),
           py::arg("approximate") = "none")
      .def("forward", &nn::GELU::forward, py::arg("input"), release_gil())
      .def_readonly("approximate", &nn::GELU::approximate);
  py::class_<nn::Softmax, nn::Module, std::shared_ptr<nn::Softmax>>(nnm, "Softmax", py::dynamic_attr())
      .def(py::init([](int64_t dim) { return std::make_shared<nn::Softmax>(dim); }), py::arg("dim"))
      .def("forward", &nn::Softmax::forward, py::arg("input"), release_gil())
      .def_readonly("dim", &nn::Softmax::dim);
  py::class_<nn::LogSoftmax, nn::Module, std::shared_ptr<nn::LogSoftmax>>(nnm, "LogSoftmax", py::dynamic_attr())
      .def(py::init([](int64_t dim) { return std::make_shared<nn::LogSoftmax>(dim); }), py::arg("dim"))
      .def("forward", &nn::LogSoftmax::forward, py::arg("input"), release_gil())
      .def_readonly("dim", &nn::LogSoftmax::dim);

  py::class_<nn::Embedding, nn::Module, std::shared_ptr<nn::Embedding>>(nnm, "Embedding", py::dynamic_attr(),
                                                                        "a lookup table (torch.nn.Embedding)")
      .def(py::init([](int64_t n, int64_t d, std::optional<int64_t> padding_idx, py::object dtype) {
        return std::make_shared<nn::Embedding>(n, d, padding_idx, dtype.is_none() ? kFloat32 : to_dtype(dtype));
      }), py::arg("num_embeddings"), py::arg("embedding_dim"), py::arg("padding_idx") = py::none(), py::kw_only(),
          py::arg("dtype") = py::none())
      .def_static("from_pretrained", &nn::Embedding::from_pretrained, py::arg("embeddings"), py::arg("freeze") = true,
                  py::arg("padding_idx") = py::none())
      .def("forward", &nn::Embedding::forward, py::arg("input"), release_gil())
      .def("reset_parameters", &nn::Embedding::reset_parameters, py::arg("generator") = py::none())
      .def_readonly("num_embeddings", &nn::Embedding::num_embeddings)
      .def_readonly("embedding_dim", &nn::Embedding::embedding_dim)
      .def_readonly("padding_idx", &nn::Embedding::padding_idx)
      .def_property_readonly("weight", [](const nn::Embedding& e) { return e.weight; });

  py::class_<nn::LayerNorm, nn::Module, std::shared_ptr<nn::LayerNorm>>(nnm, "LayerNorm", py::dynamic_attr(),
                                                                        "torch.nn.LayerNorm")
      .def(py::init([](py::object normalized_shape, double eps, bool affine, py::object dtype) {
        return std::make_shared<nn::LayerNorm>(to_shape(normalized_shape), eps, affine,
                                               dtype.is_none() ? kFloat32 : to_dtype(dtype));
      }), py::arg("normalized_shape"), py::arg("eps") = 1e-5, py::arg("elementwise_affine") = true, py::kw_only(),
          py::arg("dtype") = py::none())
      .def("forward", &nn::LayerNorm::forward, py::arg("input"), release_gil())
      .def("reset_parameters", &nn::LayerNorm::reset_parameters)
      .def_property_readonly("normalized_shape", [](const nn::LayerNorm& l) { return py::tuple(py::cast(l.normalized_shape)); })
      .def_readonly("eps", &nn::LayerNorm::eps)
      .def_readonly("elementwise_affine", &nn::LayerNorm::elementwise_affine)
      .def_property_readonly("weight", [](const nn::LayerNorm& l) { return optional_tensor(l.weight); })
      .def_property_readonly("bias", [](const nn::LayerNorm& l) { return optional_tensor(l.bias); });

  // Losses (attn/nn/loss.h): forward(input, target).
  py::class_<nn::CrossEntropyLoss, nn::Module, std::shared_ptr<nn::CrossEntropyLoss>>(nnm, "CrossEntropyLoss",
                                                                                      py::dynamic_attr())
      .def(py::init([](py::object weight, int64_t ignore_index, const std::string& reduction, double label_smoothing) {
        return std::make_shared<nn::CrossEntropyLoss>(weight.is_none() ? Tensor() : weight.cast<Tensor>(), ignore_index,
                                                      to_reduction(reduction), label_smoothing);
      }), py::arg("weight") = py::none(), py::arg("ignore_index") = -100, py::arg("reduction") = "mean",
          py::arg("label_smoothing") = 0.0)
      .def("forward", &nn::CrossEntropyLoss::forward, py::arg("input"), py::arg("target"), release_gil())
      .def_readonly("ignore_index", &nn::CrossEntropyLoss::ignore_index)
      .def_readonly("label_smoothing", &nn::CrossEntropyLoss::label_smoothing)
      .def_property_readonly("reduction", [](const nn::CrossEntropyLoss& l) { return reduction_name(l.reduction); });
  py::class_<nn::NLLLoss, nn::Module, std::shared_ptr<nn::NLLLoss>>(nnm, "NLLLoss", py::dynamic_attr())
      .def(py::init([](py::object weight, int64_t ignore_index, const std::string& reduction) {
        return std::make_shared<nn::NLLLoss>(weight.is_none() ? Tensor() : weight.cast<Tensor>(), ignore_index,
                                             to_reduction(reduction));
      }), py::arg("weight") = py::none(), py::arg("ignore_index") = -100, py::arg("reduction") = "mean")
      .def("forward", &nn::NLLLoss::forward, py::arg("input"), py::arg("target"), release_gil())
      .def_readonly("ignore_index", &nn::NLLLoss::ignore_index)
      .def_property_readonly("reduction", [](const nn::NLLLoss& l) { return reduction_name(l.reduction); });
  py::class_<nn::MSELoss, nn::Module, std::shared_ptr<nn::MSELoss>>(nnm, "MSELoss", py::dynamic_attr())
      .def(py::init([](const std::string& reduction) { return std::make_shared<nn::MSELoss>(to_reduction(reduction)); }),
           py::arg("reduction") = "mean")
      .def("forward", &nn::MSELoss::forward, py::arg("input"), py::arg("target"), release_gil())
      .def_property_readonly("reduction", [](const nn::MSELoss& l) { return reduction_name(l.reduction); });

  // torch.nn.init
  py::module_ init = nnm.def_submodule("init", "parameter initialisers (torch.nn.init)");
  init.def("calculate_gain", &nn::init::calculate_gain, py::arg("nonlinearity"), py::arg("param") = py::none());
  init.def("_calculate_fan_in_and_fan_out", &nn::init::calculate_fan_in_and_fan_out, py::arg("tensor"));
  // Each returns its argument (the same Python object), as torch.nn.init does.
  auto ret_self = [](py::object t, auto fn) {
    fn(t.cast<Tensor>());
    return t;
  };
  init.def("uniform_", [=](py::object t, double a, double b, Generator* g) {
    return ret_self(t, [&](const Tensor& x) { nn::init::uniform_(x, a, b, g); });
  }, py::arg("tensor"), py::arg("a") = 0.0, py::arg("b") = 1.0, py::arg("generator") = py::none());
  init.def("normal_", [=](py::object t, double mean, double std, Generator* g) {
    return ret_self(t, [&](const Tensor& x) { nn::init::normal_(x, mean, std, g); });
  }, py::arg("tensor"), py::arg("mean") = 0.0, py::arg("std") = 1.0, py::arg("generator") = py::none());
  init.def("trunc_normal_", [=](py::object t, double mean, double std, double a, double b, Generator* g) {
    return ret_self(t, [&](const Tensor& x) { nn::init::trunc_normal_(x, mean, std, a, b, g); });
  }, py::arg("tensor"), py::arg("mean") = 0.0, py::arg("std") = 1.0, py::arg("a") = -2.0, py::arg("b") = 2.0,
     py::arg("generator") = py::none());
  init.def("constant_", [=](py::object t, double v) {
    return ret_self(t, [&](const Tensor& x) { nn::init::constant_(x, v); });
  }, py::arg("tensor"), py::arg("val"));
  init.def("zeros_", [=](py::object t) { return ret_self(t, [&](const Tensor& x) { nn::init::zeros_(x); }); },
           py::arg("tensor"));
  init.def("ones_", [=](py::object t) { return ret_self(t, [&](const Tensor& x) { nn::init::ones_(x); }); },
           py::arg("tensor"));
  init.def("xavier_uniform_", [=](py::object t, double gain, Generator* g) {
    return ret_self(t, [&](const Tensor& x) { nn::init::xavier_uniform_(x, gain, g); });
  }, py::arg("tensor"), py::arg("gain") = 1.0, py::arg("generator") = py::none());
  init.def("xavier_normal_", [=](py::object t, double gain, Generator* g) {
    return ret_self(t, [&](const Tensor& x) { nn::init::xavier_normal_(x, gain, g); });
  }, py::arg("tensor"), py::arg("gain") = 1.0, py::arg("generator") = py::none());
  init.def("kaiming_uniform_", [=](py::object t, double a, const std::string& mode, const std::string& nl, Generator* g) {
    return ret_self(t, [&](const Tensor& x) { nn::init::kaiming_uniform_(x, a, mode, nl, g); });
  }, py::arg("tensor"), py::arg("a") = 0.0, py::arg("mode") = "fan_in", py::arg("nonlinearity") = "leaky_relu",
     py::arg("generator") = py::none());
  init.def("kaiming_normal_", [=](py::object t, double a, const std::string& mode, const std::string& nl, Generator* g) {
    return ret_self(t, [&](const Tensor& x) { nn::init::kaiming_normal_(x, a, mode, nl, g); });
  }, py::arg("tensor"), py::arg("a") = 0.0, py::arg("mode") = "fan_in", py::arg("nonlinearity") = "leaky_relu",
     py::arg("generator") = py::none());
}

}  // namespace attn::python
