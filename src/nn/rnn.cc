// RNN, GRU, LSTM and their cells. A layer runs, per layer and direction, one GEMM for the input
// projections of all steps, then per step one GEMM h W_hh^T and one fused gate kernel
// (ops/rnn.h). Variable lengths are handled by masking: at steps t >= lengths[b] row b keeps its
// state (where(mask, new, old)) and outputs zeros, which is exactly what pack_padded_sequence +
// pad_packed_sequence compute, without sorting or repacking the batch.
#include "attn/nn/rnn.h"

#include <cmath>

#include "attn/nn/init.h"
#include "attn/ops/compare.h"
#include "attn/ops/dropout.h"
#include "attn/ops/elementwise.h"
#include "attn/ops/linalg.h"
#include "attn/ops/rnn.h"
#include "attn/ops/shape.h"
#include "attn/ops/unary.h"

namespace attn::nn {
namespace {

const char* mode_name(RNNBase::Mode m) {
  switch (m) {
    case RNNBase::Mode::kRNNTanh:
    case RNNBase::Mode::kRNNRelu: return "RNN";
    case RNNBase::Mode::kGRU: return "GRU";
    case RNNBase::Mode::kLSTM: return "LSTM";
  }
  return "RNN";
}

int64_t gate_count(RNNBase::Mode m) {
  return m == RNNBase::Mode::kGRU ? 3 : m == RNNBase::Mode::kLSTM ? 4 : 1;
}

RNNBase::Mode rnn_mode(const std::string& nonlinearity) {
  ATTN_CHECK(nonlinearity == "tanh" || nonlinearity == "relu", "RNN: nonlinearity must be \"tanh\" or \"relu\", got \"",
             nonlinearity, "\"");
  return nonlinearity == "tanh" ? RNNBase::Mode::kRNNTanh : RNNBase::Mode::kRNNRelu;
}

// One step of a cell from its two projections. gi = x W_ih^T + b_ih, h (and c for LSTM) the state.
// Returns h' (and sets c_out for LSTM).
Tensor cell_step(RNNBase::Mode mode, const Tensor& gi, const Tensor& h, const Tensor& c, const Tensor& w_hh,
                 const Tensor& b_hh, Tensor* c_out) {
  const Tensor gh = linear(h, w_hh, b_hh);  // [B, G*H]
  switch (mode) {
    case RNNBase::Mode::kRNNTanh: return tanh(add(gi, gh));
    case RNNBase::Mode::kRNNRelu: return relu(add(gi, gh));
    case RNNBase::Mode::kGRU: return gru_cell_fused(gi, gh, h);
    case RNNBase::Mode::kLSTM: {
      const int64_t H = h.size(1);
      const Tensor hc = lstm_cell_fused(add(gi, gh), c);  // [B, 2H] = [h' | c']
      *c_out = hc.narrow(1, H, H);
      return hc.narrow(1, 0, H);
    }
  }
  return Tensor();
}

}  // namespace

// ------------------------------------------------------------------------------------ RNNBase

RNNBase::RNNBase(Mode mode, int64_t input_size_, int64_t hidden_size_, const RNNOptions& opts)
    : input_size(input_size_), hidden_size(hidden_size_), options(opts), mode_(mode) {
  const char* name = mode_name(mode);
  ATTN_CHECK(input_size > 0 && hidden_size > 0, name, ": input_size and hidden_size must be positive, got ", input_size,
             " and ", hidden_size);
  ATTN_CHECK(options.num_layers >= 1, name, ": num_layers must be at least 1, got ", options.num_layers);
  ATTN_CHECK(options.dropout >= 0.0 && options.dropout <= 1.0, name, ": dropout must be in [0, 1], got ",
             options.dropout);
  ATTN_CHECK(is_floating_point(options.dtype), name, ": dtype must be floating point, got ", options.dtype);
  const int64_t G = gate_count(mode), D = options.bidirectional ? 2 : 1, H = hidden_size;
  for (int64_t l = 0; l < options.num_layers; ++l) {
    for (int64_t d = 0; d < D; ++d) {
      const std::string sfx = detail::str_cat("_l", l, d == 1 ? "_reverse" : "");
      const int64_t in = l == 0 ? input_size : D * H;
      std::vector<Tensor> w;
      w.push_back(register_parameter("weight_ih" + sfx, empty({G * H, in}, options.dtype)));
      w.push_back(register_parameter("weight_hh" + sfx, empty({G * H, H}, options.dtype)));
      if (options.bias) {
        w.push_back(register_parameter("bias_ih" + sfx, empty({G * H}, options.dtype)));
        w.push_back(register_parameter("bias_hh" + sfx, empty({G * H}, options.dtype)));
      } else {
        w.push_back(Tensor());
        w.push_back(Tensor());
      }
      all_weights.push_back(std::move(w));
    }
  }
  reset_parameters();
}

void RNNBase::reset_parameters(Generator* gen) {
  // PyTorch draws every parameter, in registration order, from U(-1/sqrt(H), 1/sqrt(H)).
  const double bound = 1.0 / std::sqrt(double(hidden_size));
  for (const Tensor& p : parameters(false)) init::uniform_(p, -bound, bound, gen);
}

std::string RNNBase::extra_repr() const {
  std::string s = detail::str_cat(input_size, ", ", hidden_size);
  if (options.num_layers != 1) s += detail::str_cat(", num_layers=", options.num_layers);
  if (mode_ == Mode::kRNNRelu) s += ", nonlinearity='relu'";
  if (!options.bias) s += ", bias=False";
  if (options.batch_first) s += ", batch_first=True";
  if (options.dropout != 0.0) s += detail::str_cat(", dropout=", options.dropout);
  if (options.bidirectional) s += ", bidirectional=True";
  return s;
}

RNNOutput RNNBase::run(const Tensor& input, const Tensor& h0_in, const Tensor& c0_in, const Tensor& lengths) {
  const char* name = mode_name(mode_);
  const bool lstm = mode_ == Mode::kLSTM;
  const int64_t D = options.bidirectional ? 2 : 1, L = options.num_layers, H = hidden_size;
  const int64_t G = gate_count(mode_);
  ATTN_CHECK(input.defined() && (input.dim() == 2 || input.dim() == 3), name,
             ": expected input [T, B, input_size] ([B, T, input_size] with batch_first) or unbatched [T, input_size], got ",
             input.defined() ? input.describe() : std::string("undefined"));
  // The parameters' dtype, not options.dtype: Module::to(dtype) converts the parameters in place.
  const DType dt = all_weights[0][0].dtype();
  ATTN_CHECK(input.dtype() == dt, name, ": input dtype ", input.dtype(), " differs from the parameters' ", dt,
             " (input ", input.describe(), ")");
  // Unbatched input runs as a batch of one; states are then [D*L, H].
  const bool unbatched = input.dim() == 2;
  Tensor x = unbatched ? input.unsqueeze(1) : options.batch_first ? input.transpose(0, 1) : input;  // [T, B, I]
  const int64_t T = x.size(0), B = x.size(1);
  ATTN_CHECK(x.size(2) == input_size, name, ": expected input with ", input_size, " features in the last dim, got ",
             input.describe());
  auto state = [&](const Tensor& s, const char* what) -> Tensor {
    if (!s.defined()) return Tensor();
    const Shape want = unbatched ? Shape{D * L, H} : Shape{D * L, B, H};
    ATTN_CHECK(s.shape() == want, name, ": expected ", what, " of shape ", shape_str(want), " for input ",
               shape_str(input.shape()), ", got ", shape_str(s.shape()));
    ATTN_CHECK(s.dtype() == dt, name, ": ", what, " dtype ", s.dtype(), " differs from the parameters' ", dt);
    return unbatched ? s.unsqueeze(1) : s;
  };
  const Tensor h0 = state(h0_in, "h0"), c0 = lstm ? state(c0_in, "c0") : Tensor();

  // mask[t] [B, 1] bool: step t is valid for row b (t < lengths[b]).
  std::vector<Tensor> mask;
  if (lengths.defined()) {
    ATTN_CHECK(lengths.dtype() == kInt64 && lengths.dim() == 1 && lengths.size(0) == B, name,
               ": expected lengths int64 [", B, "] for input ", shape_str(input.shape()), ", got ", lengths.describe());
    const std::vector<int64_t> len = to_int64_vector(lengths);
    for (int64_t b = 0; b < B; ++b)
      ATTN_CHECK(len[size_t(b)] >= 0 && len[size_t(b)] <= T, name, ": lengths[", b, "] = ", len[size_t(b)],
                 " is outside [0, ", T, "] for input ", shape_str(input.shape()));
    Tensor m = empty({T, B, 1}, kBool);
    bool* pm = m.data_ptr<bool>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t b = 0; b < B; ++b) pm[t * B + b] = t < len[size_t(b)];
    for (int64_t t = 0; t < T; ++t) mask.push_back(m.select(0, t));
  }

  std::vector<Tensor> h_n, c_n;
  Tensor layer_in = x;
  for (int64_t l = 0; l < L; ++l) {
    std::vector<Tensor> dir_out;
    for (int64_t d = 0; d < D; ++d) {
      const std::vector<Tensor>& w = all_weights[size_t(l * D + d)];
      const int64_t in = layer_in.size(2);
      // Input projections of all steps at once: [T*B, in] x [in, G*H].
      const Tensor gi_all = linear(layer_in.reshape({T * B, in}), w[0], w[2]).view({T, B, G * H});
      const std::vector<Tensor> gi_steps = unbind_steps(gi_all);  // [B, G*H] each, one gathered gradient
      Tensor h = h0.defined() ? h0.select(0, l * D + d) : zeros({B, H}, dt);
      Tensor c = lstm ? (c0.defined() ? c0.select(0, l * D + d) : zeros({B, H}, dt)) : Tensor();
      std::vector<Tensor> outs(static_cast<size_t>(T));
      for (int64_t s = 0; s < T; ++s) {
        const int64_t t = d == 0 ? s : T - 1 - s;
        Tensor c_new;
        Tensor h_new = cell_step(mode_, gi_steps[size_t(t)], h, c, w[1], w[3], &c_new);
        if (!mask.empty()) {
          const Tensor& m = mask[size_t(t)];
          h_new = where(m, h_new, h);
          if (lstm) c_new = where(m, c_new, c);
          outs[size_t(t)] = where(m, h_new, 0.0);
        } else {
          outs[size_t(t)] = h_new;
        }
        h = h_new;
        if (lstm) c = c_new;
      }
      dir_out.push_back(T > 0 ? stack(outs, 0) : zeros({0, B, H}, dt));
      h_n.push_back(h);
      if (lstm) c_n.push_back(c);
    }
    layer_in = D == 1 ? dir_out[0] : cat(dir_out, 2);  // [T, B, D*H]
    if (l + 1 < L && options.dropout > 0.0 && is_training()) layer_in = dropout(layer_in, options.dropout, true);
  }

  RNNOutput r;
  r.output = unbatched ? layer_in.squeeze(1) : options.batch_first ? layer_in.transpose(0, 1) : layer_in;
  r.h_n = stack(h_n, 0);  // [D*L, B, H]
  if (unbatched) r.h_n = r.h_n.squeeze(1);
  if (lstm) {
    r.c_n = stack(c_n, 0);
    if (unbatched) r.c_n = r.c_n.squeeze(1);
  }
  return r;
}

RNN::RNN(int64_t input_size, int64_t hidden_size, const RNNOptions& options)
    : RNNBase(rnn_mode(options.nonlinearity), input_size, hidden_size, options) {}
RNNOutput RNN::forward(const Tensor& input, const Tensor& h0, const Tensor& lengths) {
  return run(input, h0, Tensor(), lengths);
}

GRU::GRU(int64_t input_size, int64_t hidden_size, const RNNOptions& options)
    : RNNBase(Mode::kGRU, input_size, hidden_size, options) {}
RNNOutput GRU::forward(const Tensor& input, const Tensor& h0, const Tensor& lengths) {
  return run(input, h0, Tensor(), lengths);
}

LSTM::LSTM(int64_t input_size, int64_t hidden_size, const RNNOptions& options)
    : RNNBase(Mode::kLSTM, input_size, hidden_size, options) {}
RNNOutput LSTM::forward(const Tensor& input, const Tensor& h0, const Tensor& c0, const Tensor& lengths) {
  return run(input, h0, c0, lengths);
}

// ------------------------------------------------------------------------------------- cells

RNNCellBase::RNNCellBase(int64_t input_size_, int64_t hidden_size_, bool bias_, int64_t gates, DType dtype)
    : input_size(input_size_), hidden_size(hidden_size_), bias(bias_) {
  // type_name() would say RNNCellBase inside this constructor.
  const char* name = gates == 1 ? "RNNCell" : gates == 3 ? "GRUCell" : "LSTMCell";
  ATTN_CHECK(input_size > 0 && hidden_size > 0, name, ": input_size and hidden_size must be positive, got ",
             input_size, " and ", hidden_size);
  ATTN_CHECK(is_floating_point(dtype), name, ": dtype must be floating point, got ", dtype);
  weight_ih = register_parameter("weight_ih", empty({gates * hidden_size, input_size}, dtype));
  weight_hh = register_parameter("weight_hh", empty({gates * hidden_size, hidden_size}, dtype));
  if (bias) {
    bias_ih = register_parameter("bias_ih", empty({gates * hidden_size}, dtype));
    bias_hh = register_parameter("bias_hh", empty({gates * hidden_size}, dtype));
  }
  reset_parameters();
}

void RNNCellBase::reset_parameters(Generator* gen) {
  const double bound = 1.0 / std::sqrt(double(hidden_size));
  for (const Tensor& p : parameters(false)) init::uniform_(p, -bound, bound, gen);
}

std::string RNNCellBase::extra_repr() const {
  return detail::str_cat(input_size, ", ", hidden_size, bias ? "" : ", bias=False");
}

bool RNNCellBase::prepare(const Tensor& input, Tensor& x, std::vector<Tensor*> states) const {
  const std::string name = type_name();
  ATTN_CHECK(input.defined() && (input.dim() == 1 || input.dim() == 2) && input.size(-1) == input_size, name,
             ": expected input [B, ", input_size, "] or [", input_size, "], got ",
             input.defined() ? input.describe() : std::string("undefined"));
  ATTN_CHECK(input.dtype() == weight_ih.dtype(), name, ": input dtype ", input.dtype(), " differs from the parameters' ",
             weight_ih.dtype());
  const bool unbatched = input.dim() == 1;
  x = unbatched ? input.unsqueeze(0) : input;
  const int64_t B = x.size(0);
  for (Tensor* s : states) {
    if (!s->defined()) {
      *s = zeros({B, hidden_size}, input.dtype());
      continue;
    }
    const Shape want = unbatched ? Shape{hidden_size} : Shape{B, hidden_size};
    ATTN_CHECK(s->shape() == want && s->dtype() == input.dtype(), name, ": expected a state ",
               input.dtype(), shape_str(want), " for input ", input.describe(), ", got ", s->describe());
    if (unbatched) *s = s->unsqueeze(0);
  }
  return unbatched;
}

RNNCell::RNNCell(int64_t input_size, int64_t hidden_size, bool bias, const std::string& nonlinearity_, DType dtype)
    : RNNCellBase(input_size, hidden_size, bias, 1, dtype), nonlinearity(nonlinearity_) {
  rnn_mode(nonlinearity);
}

Tensor RNNCell::forward(const Tensor& input, const Tensor& h_in) {
  Tensor x, h = h_in;
  const bool unbatched = prepare(input, x, {&h});
  const Tensor gi = linear(x, weight_ih, bias_ih);
  Tensor out = cell_step(rnn_mode(nonlinearity), gi, h, Tensor(), weight_hh, bias_hh, nullptr);
  return unbatched ? out.squeeze(0) : out;
}

std::string RNNCell::extra_repr() const {
  return RNNCellBase::extra_repr() + (nonlinearity == "tanh" ? "" : ", nonlinearity='" + nonlinearity + "'");
}

GRUCell::GRUCell(int64_t input_size, int64_t hidden_size, bool bias, DType dtype)
    : RNNCellBase(input_size, hidden_size, bias, 3, dtype) {}

Tensor GRUCell::forward(const Tensor& input, const Tensor& h_in) {
  Tensor x, h = h_in;
  const bool unbatched = prepare(input, x, {&h});
  Tensor out = cell_step(RNNBase::Mode::kGRU, linear(x, weight_ih, bias_ih), h, Tensor(), weight_hh, bias_hh, nullptr);
  return unbatched ? out.squeeze(0) : out;
}

LSTMCell::LSTMCell(int64_t input_size, int64_t hidden_size, bool bias, DType dtype)
    : RNNCellBase(input_size, hidden_size, bias, 4, dtype) {}

std::pair<Tensor, Tensor> LSTMCell::forward(const Tensor& input, const Tensor& h_in, const Tensor& c_in) {
  Tensor x, h = h_in, c = c_in;
  const bool unbatched = prepare(input, x, {&h, &c});
  Tensor c_new;
  Tensor h_new = cell_step(RNNBase::Mode::kLSTM, linear(x, weight_ih, bias_ih), h, c, weight_hh, bias_hh, &c_new);
  if (unbatched) return {h_new.squeeze(0), c_new.squeeze(0)};
  return {h_new, c_new};
}

}  // namespace attn::nn
