// Shared helpers of the pybind11 module `attn._attn`: dtype objects, numpy conversion, Python
// scalars as operands. Each binding file (tensor.cc, ops_*.cc, nn.cc, optim.cc, io.cc) defines one
// bind_* function that module.cc calls in layer order.
//
// GIL policy: functions that only read their (already converted) arguments and run kernels are
// bound with py::call_guard<py::gil_scoped_release>; they never touch Python objects. The one
// place C++ can drop the last reference to a Python object is the deleter of a tensor made by
// from_numpy(), and that deleter takes the GIL itself.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <vector>

#include "attn/attn.h"
#include "attn/ops/loss.h"

namespace attn::python {

namespace py = pybind11;
using release_gil = py::call_guard<py::gil_scoped_release>;

inline std::string pystr(py::handle h) { return py::str(h).cast<std::string>(); }

// The Python object for a dtype: the singletons attn.float32, ... (so `t.dtype is attn.float32`).
py::object py_dtype(DType dt);
// Accepts an attn dtype, a numpy dtype or anything np.dtype() accepts ("float32", np.float64, float).
DType to_dtype(py::handle h);
std::optional<DType> to_optional_dtype(py::handle h);  // None -> nullopt

// numpy <-> Tensor.
py::array tensor_to_numpy(const Tensor& t);   // zero-copy view; refuses tensors that require grad
Tensor numpy_to_tensor_shared(py::array arr); // zero-copy; the tensor keeps `arr` alive
Tensor numpy_to_tensor_copy(py::handle data, std::optional<DType> dtype);  // attn.tensor(data)

// A Tensor argument that may also be a Python number: numbers become 0-d tensors of `like`'s
// dtype (float32 when `like` is integral and the number is a float), as PyTorch's wrapped numbers.
bool is_py_scalar(py::handle h);
Tensor scalar_operand(py::handle h, const Tensor& like);
// A Tensor, a Python number or anything numpy can read (copied).
Tensor as_tensor(py::handle h, const Tensor* like = nullptr);
// Both operands of a binary op as tensors; a Python number takes its dtype from the other side.
std::pair<Tensor, Tensor> tensor_pair(py::handle a, py::handle b);

// Shape from a Python int or a sequence of ints.
Shape to_shape(py::handle h);
std::vector<int64_t> to_int_list(py::handle h);

void bind_tensor(py::module_& m);
// One function per op family (include/attn/ops/<family>.h), binding into attn._attn.F. Files:
// ops_elementwise, ops_unary, ops_compare, ops_reduce, ops_loss .cc hold one family each;
// ops_nn.cc holds softmax, normalization, linalg and dropout; ops_index.cc index, shape and sort.
void bind_ops_elementwise(py::module_& F);
void bind_ops_unary(py::module_& F);
void bind_ops_compare(py::module_& F);
void bind_ops_reduce(py::module_& F);
void bind_ops_softmax(py::module_& F);
void bind_ops_normalization(py::module_& F);
void bind_ops_linalg(py::module_& F);
void bind_ops_dropout(py::module_& F);
void bind_ops_loss(py::module_& F);
void bind_ops_index(py::module_& F);
void bind_ops_shape(py::module_& F);
void bind_ops_sort(py::module_& F);  // after bind_ops_reduce (shares its values_indices tuple)
// reduction='mean' | 'sum' | 'none' (ops_loss.cc)
Reduction to_reduction(const std::string& s);
const char* reduction_name(Reduction r);
void bind_nn(py::module_& m);
// nn_rnn.cc: RNN, GRU, LSTM and their cells (into attn._attn.nn, after bind_nn).
void bind_nn_rnn(py::module_& m);
// attention.cc: SDPA, scores, masks, conv/pool/batch_norm (into F); MultiheadAttention, KVCache,
// Conv*, BatchNorm* (into attn._attn.nn, after bind_nn); attn._attn.viz.
void bind_ops_attention(py::module_& F);
void bind_nn_attention(py::module_& m);
void bind_viz(py::module_& m);
// attention_modules.cc: positional encodings, hard attention (into F) and their modules + the
// classic attention modules (into attn._attn.nn).
void bind_ops_attention_extra(py::module_& F);
void bind_nn_attention_extra(py::module_& m);
// attention_concat.cc: ConcatLinearAttention, SelfAttention, CrossAttention (attn._attn.nn) and
// self_attention / cross_attention (attn._attn.F); after bind_nn_attention (subclasses its MHA).
void bind_attention_concat(py::module_& m);
// attention_local.cc: sliding_window_attention, sliding_window_mask (into attn._attn.F).
void bind_attention_local(py::module_& F);
// attention_flash.cc: flash_attention, set_sdpa_backend, get_sdpa_backend (into attn._attn.F).
void bind_attention_flash(py::module_& F);
// attention_transformer.cc: attn._attn.nn.Transformer* (after bind_nn_attention: uses its MHA, KVCache).
void bind_attention_transformer(py::module_& m);
void bind_optim(py::module_& m);
void bind_io(py::module_& m);
// bleu.cc: attn._attn.bleu (corpus_bleu, sentence_bleu, BLEUScore).
void bind_bleu(py::module_& m);
// data.cc: attn._attn.data (Tatoeba reader, normalisation, Vocab, splits, batches).
void bind_data(py::module_& m);
// data_subword.cc: attn._attn.data.SentencePiece, vocab_for; after bind_data.
void bind_data_subword(py::module_& m);
// translator.cc: attn._attn.translator (train_translator, Translator); after bind_bleu.
void bind_translator(py::module_& m);
// models_transformer.cc: attn._attn.models.TransformerModel (+ greedy / beam / sampling decode).
void bind_models_transformer(py::module_& m);
// models_bert.cc: attn._attn.models.Bert* (after bind_models_transformer) and attn._attn.train.
void bind_models_bert(py::module_& m);

}  // namespace attn::python
