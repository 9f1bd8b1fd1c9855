"""attn.nn.RNN / GRU / LSTM and the cells from Python: PyTorch's keywords and return values,
PyTorch fixtures (tests/fixtures/rnn, made by tools/fixtures/rnn.py) for outputs and gradients,
the `lengths=` extra, parameter attributes and error messages."""
import pytest

import attn
from attn import nn
from conftest import assert_close, fixture


def _state(fx):
    return {k[2:]: v for k, v in fx.items() if k.startswith("p.")}


@pytest.mark.parametrize("case,cls,kw", [
    ("gru_2layer_h0", nn.GRU, dict(num_layers=2)),
    ("rnn_relu_bi", nn.RNN, dict(nonlinearity="relu", bidirectional=True, batch_first=True)),
    ("lstm_lengths_bi", nn.LSTM, dict(num_layers=2, bidirectional=True)),
    ("gru_lengths_bi", nn.GRU, dict(num_layers=2, bidirectional=True, batch_first=True)),
])
def test_layer_matches_pytorch(case, cls, kw):
    fx = fixture("rnn", case)
    m = cls(3, 4, dtype=attn.float64, **kw)
    m.load_state_dict(_state(fx))
    x = fx["input"].detach().requires_grad_()
    lstm = cls is nn.LSTM
    hx = None
    if "h0" in fx:
        h0 = fx["h0"].detach().requires_grad_()
        hx = (h0, fx["c0"].detach().requires_grad_()) if lstm else h0
    out, hn = m(x, hx, lengths=fx.get("lengths"))
    if lstm:
        hn, cn = hn
    # float64 on both sides, only summation order differs.
    assert_close(out, fx["out"], rtol=1e-10, atol=1e-12)
    assert_close(hn, fx["h_n"], rtol=1e-10, atol=1e-12)
    loss = (out * fx["grad_out"]).sum() + (hn * fx["grad_h_n"]).sum()
    if lstm:
        assert_close(cn, fx["c_n"], rtol=1e-10, atol=1e-12)
        loss = loss + (cn * fx["grad_c_n"]).sum()
    loss.backward()
    assert_close(x.grad, fx["grad_input"], rtol=1e-10, atol=1e-12)
    if hx is not None:
        assert_close((hx[0] if lstm else hx).grad, fx["grad_h0"], rtol=1e-10, atol=1e-12)
    for k, p in m.named_parameters():
        assert_close(p.grad, fx["grad_p." + k], rtol=1e-10, atol=1e-12, msg=k)


def test_cells_match_pytorch():
    for case, cell in [("gru_cell", nn.GRUCell(3, 4, dtype=attn.float64)),
                       ("rnn_cell_relu", nn.RNNCell(3, 4, nonlinearity="relu", dtype=attn.float64)),
                       ("lstm_cell", nn.LSTMCell(3, 4, dtype=attn.float64))]:
        fx = fixture("rnn", case)
        cell.load_state_dict(_state(fx))
        if case == "lstm_cell":
            h, c = cell(fx["input"], (fx["h"], fx["c"]))
            assert_close(c, fx["c_n"], rtol=1e-10, atol=1e-12)
        else:
            h = cell(fx["input"], fx["h"])
        assert_close(h, fx["h_n"], rtol=1e-10, atol=1e-12, msg=case)


def test_keywords_names_and_attributes():
    m = nn.LSTM(input_size=3, hidden_size=5, num_layers=2, bias=True, batch_first=True, dropout=0.0,
                bidirectional=True)
    assert list(m.state_dict())[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert list(m.state_dict())[4] == "weight_ih_l0_reverse"
    assert tuple(m.weight_hh_l1_reverse.shape) == (20, 5)
    assert (m.hidden_size, m.num_layers, m.batch_first, m.bidirectional) == (5, 2, True, True)
    assert repr(m) == "LSTM(3, 5, num_layers=2, batch_first=True, bidirectional=True)"
    out, (hn, cn) = m(attn.randn(2, 7, 3))
    assert tuple(out.shape) == (2, 7, 10) and tuple(hn.shape) == (4, 2, 5) and tuple(cn.shape) == (4, 2, 5)
    with pytest.raises(AttributeError):
        m.weight_ih_l5


def test_lengths_keyword_accepts_a_list():
    g = nn.GRU(3, 4)
    x = attn.randn(5, 2, 3)
    out, hn = g(x, lengths=[5, 2])
    out2, hn2 = g(x, lengths=attn.tensor([5, 2]))
    assert_close(out, out2, rtol=0, atol=0)
    assert_close(out[2:, 1], attn.zeros(3, 4), rtol=0, atol=0)  # padded steps are zero
    # the state of row 1 is the one after its 2nd step
    _, h_short = g(x[:2, 1:2])
    assert_close(hn[:, 1:2], h_short, atol=1e-6)


def test_bad_shapes_raise_with_shapes():
    g = nn.GRU(3, 4)
    with pytest.raises(attn.AttnError, match=r"\[1, 2, 4\]"):
        g(attn.randn(5, 2, 3), attn.randn(2, 2, 4))
    with pytest.raises(ValueError):
        nn.LSTM(3, 4)(attn.randn(5, 2, 3), (attn.zeros(1, 2, 4),))
