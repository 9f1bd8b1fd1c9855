"""attn.nn.Transformer* (python/csrc/attention_transformer.cc) against the committed PyTorch fixtures
of tests/fixtures/transformer/ (tools/fixtures/transformer.py: torch.nn.TransformerEncoderLayer /
TransformerDecoderLayer / Transformer in float64, dropout 0, train() mode), with PyTorch's keyword
names; the stacks' deep-copy semantics; KV-cached decoding; the extensions; errors.

Tolerance: float64, 1e-10 (the same math in a different summation order through a few layers).
"""
import math

import numpy as np
import pytest

import attn
from conftest import FIXTURES, assert_close, fixture

F64 = dict(rtol=1e-10, atol=1e-10)
CASES = ["encoder_layer_post_relu", "encoder_layer_pre_gelu_batch_first", "encoder_layer_unbatched",
         "decoder_layer_post_relu", "decoder_layer_pre_gelu_batch_first", "transformer_post_relu",
         "transformer_pre_gelu_batch_first"]


def leaf(t):
    return t.clone().requires_grad_()


@pytest.mark.parametrize("case", CASES)
def test_transformer_fixture(case):
    fx = fixture("transformer", case)
    md = attn.load_metadata(FIXTURES / "transformer" / f"{case}.safetensors")
    kw = dict(dim_feedforward=int(md["dim_feedforward"]), dropout=0.0, activation=md["activation"],
              batch_first=md["batch_first"] == "1", norm_first=md["norm_first"] == "1", dtype=attn.float64)
    E, H = int(md["d_model"]), int(md["nhead"])
    masks = {k: v for k, v in fx.items() if k.endswith("mask")}
    ins = {k: leaf(fx[k]) for k in ("src", "tgt", "memory") if k in fx}
    if md["kind"] == "encoder_layer":
        m = attn.nn.TransformerEncoderLayer(E, H, **kw)
    elif md["kind"] == "decoder_layer":
        m = attn.nn.TransformerDecoderLayer(d_model=E, nhead=H, **kw)
    else:
        m = attn.nn.Transformer(d_model=E, nhead=H, num_encoder_layers=int(md["num_encoder_layers"]),
                                num_decoder_layers=int(md["num_decoder_layers"]), **kw)
    r = m.load_state_dict({k[len("param."):]: v for k, v in fx.items() if k.startswith("param.")})
    assert not r.missing_keys and not r.unexpected_keys
    out = m(**ins, **masks)  # PyTorch's keyword names throughout
    assert_close(out, fx["out"], **F64, msg="out")
    (out * fx["grad_out"]).sum().backward()
    for k, t in ins.items():
        assert_close(t.grad, fx[f"grad_{k}"], rtol=1e-9, atol=1e-9, msg=f"grad_{k}")
    for n, p in m.named_parameters():
        assert_close(p.grad, fx[f"grad.param.{n}"], rtol=1e-9, atol=1e-9, msg=n)


def test_stacks_copy_the_given_layer_as_pytorch():
    layer = attn.nn.TransformerEncoderLayer(8, 2, 16, 0.0, dtype=attn.float64)
    norm = attn.nn.LayerNorm(8, dtype=attn.float64)
    enc = attn.nn.TransformerEncoder(layer, 3, norm=norm)
    assert enc.num_layers == 3 and len(enc.layers) == 3
    sd = enc.state_dict()
    for i in range(3):
        assert_close(sd[f"layers.{i}.linear1.weight"], layer.linear1.weight, rtol=0, atol=0)
    assert "norm.weight" in sd
    assert attn.nn.TransformerEncoder(layer, 2).norm is None
    x = attn.randn(5, 2, 8, dtype=attn.float64)
    # Three identical layers applied in turn, then the norm.
    y = x
    for _ in range(3):
        y = layer(y)
    assert_close(enc(x), norm(y), rtol=1e-12, atol=1e-12)


def test_decoder_forward_step_equals_causal_forward():
    layer = attn.nn.TransformerDecoderLayer(8, 2, 16, 0.0, batch_first=True, norm_first=True, rotary=True,
                                            num_kv_heads=1, dtype=attn.float64)
    dec = attn.nn.TransformerDecoder(layer, 2, norm=attn.nn.LayerNorm(8, dtype=attn.float64))
    tgt, memory = attn.randn(2, 4, 8, dtype=attn.float64), attn.randn(2, 3, 8, dtype=attn.float64)
    full = dec(tgt, memory, tgt_mask=attn.nn.Transformer.generate_square_subsequent_mask(4, dtype=attn.float64))
    cache = dec.new_cache()
    assert len(cache) == 2
    with attn.no_grad():
        steps = [dec.forward_step(tgt[:, t:t + 1], memory if t == 0 else None, cache) for t in range(4)]
    assert cache.length() == 4 and cache[0].self_attn.length() == 4
    assert_close(attn.cat(steps, 1), full, rtol=1e-12, atol=1e-12)
    cache.reorder(attn.tensor(np.array([1, 1], dtype=np.int64)))
    assert cache[1].cross_attn.k.shape[0] == 2


def test_generate_square_subsequent_mask():
    m = attn.nn.Transformer.generate_square_subsequent_mask(3).numpy()
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, np.array([[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]], np.float32))


def test_moe_aux_loss_and_keep_attention():
    model = attn.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=1, dim_feedforward=16,
                                dropout=0.0, moe_experts=3, moe_top_k=1)
    out = model(attn.randn(5, 2, 8), attn.randn(4, 2, 8))
    assert out.shape == (4, 2, 8)
    enc = model.encoder
    a = enc.aux_loss()
    assert a is not None and math.isclose(a.item(), sum(l.aux_loss().item() for l in enc.layers), rel_tol=1e-6)
    assert "encoder.layers.0.moe.gate.weight" in model.state_dict()
    plain = attn.nn.TransformerEncoderLayer(8, 2, 16)
    plain(attn.randn(3, 2, 8))
    assert plain.aux_loss() is None and plain.last_self_attention is None
    plain.keep_attention = True
    plain(attn.randn(3, 2, 8))
    assert plain.last_self_attention.shape == (2, 2, 3, 3)


def test_errors():
    layer = attn.nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(attn.AttnError, match=r"\[3, 2, 7\]"):
        layer(attn.randn(3, 2, 7))
    with pytest.raises(attn.AttnError, match="activation"):
        attn.nn.TransformerEncoderLayer(8, 2, activation="tanh")
    model = attn.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=16)
    with pytest.raises(attn.AttnError, match="batch"):
        model(attn.randn(3, 2, 8), attn.randn(4, 3, 8))
    with pytest.raises(ValueError):
        attn.nn.Transformer(d_model=8, nhead=2, custom_encoder=layer)


def test_multihead_rotary_and_forward_kv():
    m = attn.nn.MultiheadAttention(8, 2, batch_first=True, dtype=attn.float64)
    q, k = attn.randn(2, 3, 8, dtype=attn.float64), attn.randn(2, 4, 8, dtype=attn.float64)
    full, _ = m(q, k, k, need_weights=False)
    out, w = m.forward_kv(q, m.project_kv(k, k), need_weights=True)
    assert_close(out, full, rtol=1e-12, atol=1e-12)
    assert w.shape == (2, 3, 4)
    assert m.rotary is False
    m.rotary = True
    rotated, _ = m(q, k, k, need_weights=False)
    assert not np.allclose(rotated.detach().numpy(), full.detach().numpy())
    with pytest.raises(attn.AttnError, match="rotary"):
        m.forward_kv(q, m.project_kv(k, k))
