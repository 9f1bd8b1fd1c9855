// Recurrent layers (torch.nn.RNN, GRU, LSTM and their single-step cells), with PyTorch's
// semantics, gate order, parameter names and initialisation.
//
//   RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)                 act = tanh | relu
//   GRU:  r = σ(W_ir x + b_ir + W_hr h + b_hr),  z = σ(W_iz x + b_iz + W_hz h + b_hz)
//         n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),  h' = (1 - z) ⊙ n + z ⊙ h
//   LSTM: [i f g o] = W_ih x + b_ih + W_hh h + b_hh;  i, f, o = σ(.), g = tanh(.)
//         c' = f ⊙ c + i ⊙ g,  h' = o ⊙ tanh(c')
//
// Shapes (T steps, B batch, I input, H hidden, D = 2 if bidirectional else 1):
//   input [T, B, I] ([B, T, I] with batch_first), h0 / c0 [D*num_layers, B, H] (undefined: zeros),
//   output [T, B, D*H] ([B, T, D*H] with batch_first), h_n / c_n [D*num_layers, B, H].
// Per layer and direction: weight_ih_l{k}[_reverse] [G*H, I_k], weight_hh_l{k} [G*H, H],
// bias_ih_l{k} [G*H], bias_hh_l{k} [G*H] with G = 1 (RNN), 3 (GRU, rows r,z,n), 4 (LSTM, i,f,g,o);
// every parameter is drawn from U(-1/sqrt(H), 1/sqrt(H)).
//
// lengths (optional int64 [B]): the valid length of each sequence, as pack_padded_sequence +
// pad_packed_sequence in PyTorch: at steps t >= lengths[b] row b keeps its state and its output is
// zero, so h_n holds the state after each row's last valid step; the reverse direction starts at
// each row's last valid step.
//
// Speed: the input projections of all steps are one GEMM per layer and direction; each step is
// one GEMM h W_hh^T plus one fused elementwise kernel for all gates (ops/rnn.h).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "attn/core/random.h"
#include "attn/nn/module.h"

namespace attn::nn {

struct RNNOptions {
  int64_t num_layers = 1;
  bool bias = true;
  bool batch_first = false;
  double dropout = 0.0;  // on the outputs of every layer but the last, in training mode only
  bool bidirectional = false;
  std::string nonlinearity = "tanh";  // RNN only: "tanh" | "relu"
  DType dtype = kFloat32;
};

struct RNNOutput {
  Tensor output;  // [T, B, D*H] ([B, T, D*H] if batch_first); zeros at padded steps
  Tensor h_n;     // [D*num_layers, B, H]: the state after each sequence's last valid step
  Tensor c_n;     // LSTM only
};

// The shared machinery of RNN, GRU and LSTM; not used directly.
class RNNBase : public Module {
 public:
  enum class Mode { kRNNTanh, kRNNRelu, kGRU, kLSTM };

  // Re-draws every parameter from U(-1/sqrt(H), 1/sqrt(H)) (uses `gen`, or the default generator).
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t input_size, hidden_size;
  RNNOptions options;
  // Per layer, then per direction: {weight_ih, weight_hh, bias_ih, bias_hh} (biases undefined
  // without bias), in registration (state_dict) order.
  std::vector<std::vector<Tensor>> all_weights;

 protected:
  RNNBase(Mode mode, int64_t input_size, int64_t hidden_size, const RNNOptions& options);
  RNNOutput run(const Tensor& input, const Tensor& h0, const Tensor& c0, const Tensor& lengths);

  Mode mode_;
};

class RNN : public RNNBase {
 public:
  RNN(int64_t input_size, int64_t hidden_size, const RNNOptions& options = {});
  RNNOutput forward(const Tensor& input, const Tensor& h0 = Tensor(), const Tensor& lengths = Tensor());
  RNNOutput operator()(const Tensor& input, const Tensor& h0 = Tensor(), const Tensor& lengths = Tensor()) {
    return forward(input, h0, lengths);
  }
};

class GRU : public RNNBase {
 public:
  GRU(int64_t input_size, int64_t hidden_size, const RNNOptions& options = {});
  RNNOutput forward(const Tensor& input, const Tensor& h0 = Tensor(), const Tensor& lengths = Tensor());
  RNNOutput operator()(const Tensor& input, const Tensor& h0 = Tensor(), const Tensor& lengths = Tensor()) {
    return forward(input, h0, lengths);
  }
};

class LSTM : public RNNBase {
 public:
  LSTM(int64_t input_size, int64_t hidden_size, const RNNOptions& options = {});
  RNNOutput forward(const Tensor& input, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(),
                    const Tensor& lengths = Tensor());
  RNNOutput operator()(const Tensor& input, const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(),
                       const Tensor& lengths = Tensor()) {
    return forward(input, h0, c0, lengths);
  }
};

// Single-step cells: input [B, I] (or [I], unbatched), h / c [B, H] (undefined: zeros).
// Parameters weight_ih [G*H, I], weight_hh [G*H, H], bias_ih [G*H], bias_hh [G*H].
class RNNCellBase : public Module {
 public:
  void reset_parameters(Generator* gen = nullptr);
  std::string extra_repr() const override;

  int64_t input_size, hidden_size;
  bool bias;
  Tensor weight_ih, weight_hh, bias_ih, bias_hh;

 protected:
  RNNCellBase(int64_t input_size, int64_t hidden_size, bool bias, int64_t gates, DType dtype);
  // Checks shapes; returns input and states as [B, .] plus whether the input was unbatched.
  bool prepare(const Tensor& input, Tensor& x, std::vector<Tensor*> states) const;
};

class RNNCell : public RNNCellBase {
 public:
  RNNCell(int64_t input_size, int64_t hidden_size, bool bias = true, const std::string& nonlinearity = "tanh",
          DType dtype = kFloat32);
  Tensor forward(const Tensor& input, const Tensor& h = Tensor());
  Tensor operator()(const Tensor& input, const Tensor& h = Tensor()) { return forward(input, h); }
  std::string extra_repr() const override;

  std::string nonlinearity;
};

class GRUCell : public RNNCellBase {
 public:
  GRUCell(int64_t input_size, int64_t hidden_size, bool bias = true, DType dtype = kFloat32);
  Tensor forward(const Tensor& input, const Tensor& h = Tensor());
  Tensor operator()(const Tensor& input, const Tensor& h = Tensor()) { return forward(input, h); }
};

class LSTMCell : public RNNCellBase {
 public:
  LSTMCell(int64_t input_size, int64_t hidden_size, bool bias = true, DType dtype = kFloat32);
  // Returns (h', c').
  std::pair<Tensor, Tensor> forward(const Tensor& input, const Tensor& h = Tensor(), const Tensor& c = Tensor());
  std::pair<Tensor, Tensor> operator()(const Tensor& input, const Tensor& h = Tensor(), const Tensor& c = Tensor()) {
    return forward(input, h, c);
  }
};

}  // namespace attn::nn
