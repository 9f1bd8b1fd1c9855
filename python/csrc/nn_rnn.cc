// attn.nn.RNN / GRU / LSTM / RNNCell / GRUCell / LSTMCell (attn/nn/rnn.h) with PyTorch's
// constructor keywords and return values: forward(input, hx=None, lengths=None) returns
// (output, h_n) for RNN and GRU and (output, (h_n, c_n)) for LSTM, whose hx is the pair (h0, c0).
// `lengths` (int64 [B] or a list) is attn's extra: the valid length of each sequence, as
// pack_padded_sequence(..., enforce_sorted=False) + pad_packed_sequence in PyTorch.
#include "attn/nn/rnn.h"

#include "common.h"

namespace attn::python {
namespace {

Tensor opt_tensor(py::handle h) { return h.is_none() ? Tensor() : as_tensor(h); }

Tensor lengths_tensor(py::handle h) {
  if (h.is_none()) return Tensor();
  Tensor t = py::isinstance<Tensor>(h) ? h.cast<Tensor>() : as_tensor(h);
  return t.to(kInt64);
}

nn::RNNOptions options(int64_t num_layers, bool bias, bool batch_first, double dropout, bool bidirectional,
                       const std::string& nonlinearity, py::handle dtype) {
  nn::RNNOptions o;
  o.num_layers = num_layers;
  o.bias = bias;
  o.batch_first = batch_first;
  o.dropout = dropout;
  o.bidirectional = bidirectional;
  o.nonlinearity = nonlinearity;
  o.dtype = dtype.is_none() ? kFloat32 : to_dtype(dtype);
  return o;
}

// m.weight_ih_l0 etc., as PyTorch's attribute access to parameters.
py::object parameter_attr(const nn::Module& self, const std::string& name) {
  for (const auto& [k, v] : self.named_parameters(false))
    if (k == name) return py::cast(v);
  throw py::attribute_error("'" + self.type_name() + "' object has no attribute '" + name + "'");
}

template <class M, class Cls>
void layer_common(Cls& cls) {
  cls.def_readonly("input_size", &M::input_size)
      .def_readonly("hidden_size", &M::hidden_size)
      .def_property_readonly("num_layers", [](const M& m) { return m.options.num_layers; })
      .def_property_readonly("bias", [](const M& m) { return m.options.bias; })
      .def_property_readonly("batch_first", [](const M& m) { return m.options.batch_first; })
      .def_property_readonly("dropout", [](const M& m) { return m.options.dropout; })
      .def_property_readonly("bidirectional", [](const M& m) { return m.options.bidirectional; })
      .def("reset_parameters", &M::reset_parameters, py::arg("generator") = py::none())
      .def("__getattr__", &parameter_attr);
}

}  // namespace

void bind_nn_rnn(py::module_& m) {
  py::module_ nnm = m.attr("nn");

  py::class_<nn::RNNBase, nn::Module, std::shared_ptr<nn::RNNBase>> base(nnm, "_RNNBase", py::dynamic_attr());
  layer_common<nn::RNNBase>(base);

  py::class_<nn::RNN, nn::RNNBase, std::shared_ptr<nn::RNN>> rnn(nnm, "RNN", py::dynamic_attr(),
                                                                 "Elman RNN, tanh or relu (torch.nn.RNN)");
  rnn.def(py::init([](int64_t input_size, int64_t hidden_size, int64_t num_layers, const std::string& nonlinearity,
                      bool bias, bool batch_first, double dropout, bool bidirectional, py::object dtype) {
            return std::make_shared<nn::RNN>(input_size, hidden_size,
                                             options(num_layers, bias, batch_first, dropout, bidirectional, nonlinearity, dtype));
          }),
          py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers") = 1, py::arg("nonlinearity") = "tanh",
          py::arg("bias") = true, py::arg("batch_first") = false, py::arg("dropout") = 0.0,
          py::arg("bidirectional") = false, py::arg("dtype") = py::none())
      .def("forward", [](nn::RNN& self, const Tensor& input, py::object hx, py::object lengths) {
        const Tensor h0 = opt_tensor(hx), len = lengths_tensor(lengths);
        nn::RNNOutput r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(input, h0, len);
        }
        return py::make_tuple(r.output, r.h_n);
      }, py::arg("input"), py::arg("hx") = py::none(), py::arg("lengths") = py::none())
      .def_property_readonly("nonlinearity", [](const nn::RNN& m) { return m.options.nonlinearity; });

  py::class_<nn::GRU, nn::RNNBase, std::shared_ptr<nn::GRU>>(nnm, "GRU", py::dynamic_attr(),
                                                             "Gated recurrent unit (torch.nn.GRU)")
      .def(py::init([](int64_t input_size, int64_t hidden_size, int64_t num_layers, bool bias, bool batch_first,
                       double dropout, bool bidirectional, py::object dtype) {
             return std::make_shared<nn::GRU>(input_size, hidden_size,
                                              options(num_layers, bias, batch_first, dropout, bidirectional, "tanh", dtype));
           }),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers") = 1, py::arg("bias") = true,
           py::arg("batch_first") = false, py::arg("dropout") = 0.0, py::arg("bidirectional") = false,
           py::arg("dtype") = py::none())
      .def("forward", [](nn::GRU& self, const Tensor& input, py::object hx, py::object lengths) {
        const Tensor h0 = opt_tensor(hx), len = lengths_tensor(lengths);
        nn::RNNOutput r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(input, h0, len);
        }
        return py::make_tuple(r.output, r.h_n);
      }, py::arg("input"), py::arg("hx") = py::none(), py::arg("lengths") = py::none());

  py::class_<nn::LSTM, nn::RNNBase, std::shared_ptr<nn::LSTM>>(nnm, "LSTM", py::dynamic_attr(),
                                                               "Long short-term memory (torch.nn.LSTM)")
      .def(py::init([](int64_t input_size, int64_t hidden_size, int64_t num_layers, bool bias, bool batch_first,
                       double dropout, bool bidirectional, py::object dtype) {
             return std::make_shared<nn::LSTM>(input_size, hidden_size,
                                               options(num_layers, bias, batch_first, dropout, bidirectional, "tanh", dtype));
           }),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("num_layers") = 1, py::arg("bias") = true,
           py::arg("batch_first") = false, py::arg("dropout") = 0.0, py::arg("bidirectional") = false,
           py::arg("dtype") = py::none())
      .def("forward", [](nn::LSTM& self, const Tensor& input, py::object hx, py::object lengths) {
        Tensor h0, c0;
        if (!hx.is_none()) {
          auto pair = hx.cast<py::tuple>();
          if (pair.size() != 2) throw py::value_error("LSTM: hx must be a pair (h_0, c_0)");
          h0 = opt_tensor(pair[0]);
          c0 = opt_tensor(pair[1]);
        }
        const Tensor len = lengths_tensor(lengths);
        nn::RNNOutput r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(input, h0, c0, len);
        }
        return py::make_tuple(r.output, py::make_tuple(r.h_n, r.c_n));
      }, py::arg("input"), py::arg("hx") = py::none(), py::arg("lengths") = py::none());

  py::class_<nn::RNNCellBase, nn::Module, std::shared_ptr<nn::RNNCellBase>>(nnm, "_RNNCellBase", py::dynamic_attr())
      .def_readonly("input_size", &nn::RNNCellBase::input_size)
      .def_readonly("hidden_size", &nn::RNNCellBase::hidden_size)
      .def_readonly("bias", &nn::RNNCellBase::bias)
      .def_property_readonly("weight_ih", [](const nn::RNNCellBase& c) { return c.weight_ih; })
      .def_property_readonly("weight_hh", [](const nn::RNNCellBase& c) { return c.weight_hh; })
      .def_property_readonly("bias_ih", [](const nn::RNNCellBase& c) { return c.bias_ih.defined() ? py::cast(c.bias_ih) : py::none(); })
      .def_property_readonly("bias_hh", [](const nn::RNNCellBase& c) { return c.bias_hh.defined() ? py::cast(c.bias_hh) : py::none(); })
      .def("reset_parameters", &nn::RNNCellBase::reset_parameters, py::arg("generator") = py::none());

  py::class_<nn::RNNCell, nn::RNNCellBase, std::shared_ptr<nn::RNNCell>>(nnm, "RNNCell", py::dynamic_attr(),
                                                                          "One Elman RNN step (torch.nn.RNNCell)")
      .def(py::init([](int64_t input_size, int64_t hidden_size, bool bias, const std::string& nonlinearity, py::object dtype) {
             return std::make_shared<nn::RNNCell>(input_size, hidden_size, bias, nonlinearity,
                                                  dtype.is_none() ? kFloat32 : to_dtype(dtype));
           }),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("bias") = true, py::arg("nonlinearity") = "tanh",
           py::arg("dtype") = py::none())
      .def("forward", [](nn::RNNCell& self, const Tensor& input, py::object hx) {
        const Tensor h = opt_tensor(hx);
        py::gil_scoped_release nogil;
        return self.forward(input, h);
      }, py::arg("input"), py::arg("hx") = py::none())
      .def_readonly("nonlinearity", &nn::RNNCell::nonlinearity);

  py::class_<nn::GRUCell, nn::RNNCellBase, std::shared_ptr<nn::GRUCell>>(nnm, "GRUCell", py::dynamic_attr(),
                                                                          "One GRU step (torch.nn.GRUCell)")
      .def(py::init([](int64_t input_size, int64_t hidden_size, bool bias, py::object dtype) {
             return std::make_shared<nn::GRUCell>(input_size, hidden_size, bias, dtype.is_none() ? kFloat32 : to_dtype(dtype));
           }),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("bias") = true, py::arg("dtype") = py::none())
      .def("forward", [](nn::GRUCell& self, const Tensor& input, py::object hx) {
        const Tensor h = opt_tensor(hx);
        py::gil_scoped_release nogil;
        return self.forward(input, h);
      }, py::arg("input"), py::arg("hx") = py::none());

  py::class_<nn::LSTMCell, nn::RNNCellBase, std::shared_ptr<nn::LSTMCell>>(nnm, "LSTMCell", py::dynamic_attr(),
                                                                            "One LSTM step (torch.nn.LSTMCell)")
      .def(py::init([](int64_t input_size, int64_t hidden_size, bool bias, py::object dtype) {
             return std::make_shared<nn::LSTMCell>(input_size, hidden_size, bias, dtype.is_none() ? kFloat32 : to_dtype(dtype));
           }),
           py::arg("input_size"), py::arg("hidden_size"), py::arg("bias") = true, py::arg("dtype") = py::none())
      .def("forward", [](nn::LSTMCell& self, const Tensor& input, py::object hx) {
        Tensor h, c;
        if (!hx.is_none()) {
          auto pair = hx.cast<py::tuple>();
          if (pair.size() != 2) throw py::value_error("LSTMCell: hx must be a pair (h, c)");
          h = opt_tensor(pair[0]);
          c = opt_tensor(pair[1]);
        }
        std::pair<Tensor, Tensor> r;
        {
          py::gil_scoped_release nogil;
          r = self.forward(input, h, c);
        }
        return py::make_tuple(r.first, r.second);
      }, py::arg("input"), py::arg("hx") = py::none());
}

}  // namespace attn::python
