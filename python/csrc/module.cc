// The extension module attn._attn. Python code in python/attn/ wraps it into the public package
// (attn, attn.functional, attn.nn, attn.optim). Bindings are registered layer by layer.
#include "common.h"

PYBIND11_MODULE(_attn, m) {
  namespace py = pybind11;
  using namespace attn::python;
  m.doc() = "attn: attention mechanisms on a small tensor + autograd core (C++ extension)";

  // attn::Error -> attn.AttnError, a RuntimeError, message unchanged.
  py::register_exception<attn::Error>(m, "AttnError", PyExc_RuntimeError);

  bind_tensor(m);
  py::module_ F = m.def_submodule("F", "functional ops (attn.functional)");
  bind_ops_elementwise(F);
  bind_ops_unary(F);
  bind_ops_compare(F);
  bind_ops_reduce(F);
  bind_ops_softmax(F);
  bind_ops_normalization(F);
  bind_ops_linalg(F);
  bind_ops_dropout(F);
  bind_ops_loss(F);
  bind_ops_index(F);
  bind_ops_shape(F);
  bind_ops_sort(F);
  bind_ops_attention(F);
  bind_ops_attention_extra(F);
  bind_nn(m);
  bind_nn_rnn(m);
  bind_nn_attention(m);
  bind_nn_attention_extra(m);
  bind_attention_concat(m);
  bind_attention_local(F);
  bind_attention_flash(F);
  bind_attention_transformer(m);
  bind_viz(m);
  bind_optim(m);
  bind_io(m);
  bind_bleu(m);
  bind_data(m);
  bind_data_subword(m);
  bind_translator(m);
  bind_models_transformer(m);
  bind_models_bert(m);
}
