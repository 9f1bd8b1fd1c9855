"""attn.nn.ConcatLinearAttention, attn.nn.SelfAttention / CrossAttention and
attn.functional.self_attention / cross_attention (python/csrc/attention_concat.cc) against the
committed PyTorch fixtures tests/fixtures/{concat_linear,self_cross}/ (tools/fixtures/<family>.py).

Tolerance: float64 cases 1e-10 (same math as PyTorch, other summation order).
"""
import numpy as np
import pytest

import attn
from attn import functional as F
from conftest import FIXTURES, assert_close, fixture

F64 = dict(rtol=1e-10, atol=1e-10)


def meta(family, case):
    return attn.load_metadata(FIXTURES / family / f"{case}.safetensors")


def leaf(t):
    return t.clone().requires_grad_()


@pytest.mark.parametrize("case", ["batch1_rank3_short", "batch3_rank2_short", "batch3_rank3_full"])
def test_concat_linear_fixture(case):
    fx, md = fixture("concat_linear", case), meta("concat_linear", case)
    m = attn.nn.ConcatLinearAttention(*(int(md[k]) for k in ("query_size", "key_size", "value_size", "max_length",
                                                              "output_size")), dtype=attn.float64)
    keys = [k for k, _ in m.state_dict().items()]
    assert keys == ["attn.weight", "attn.bias", "attn_combine.weight", "attn_combine.bias"]
    m.load_state_dict({k: fx[k] for k in keys})
    q, k, v = leaf(fx["query"]), leaf(fx["key"]), leaf(fx["values"])
    r = m(q, k, v)
    out, w = r  # a namedtuple (output, weights)
    assert r.output is out and r.weights is w
    assert_close(out, fx["out"], **F64, msg="out")
    assert_close(w, fx["weights"], **F64, msg="weights")
    ((out * fx["grad_out"]).sum() + (w * fx["grad_weights"]).sum()).backward()
    for name, t in (("query", q), ("key", k), ("values", v)):
        assert_close(t.grad, fx[f"grad_{name}"], **F64, msg=f"grad_{name}")
    for name, p in m.named_parameters():
        assert_close(p.grad, fx[f"grad_{name}"], **F64, msg=f"grad of {name}")


def test_concat_linear_tutorial_shapes_and_errors():
    m = attn.nn.ConcatLinearAttention(32, 32, 64, 32, 32)
    assert m.max_length == 32 and m.attn.out_features == 32 and m.attn_combine.in_features == 96
    out, w = m(attn.randn(1, 1, 32), attn.randn(1, 1, 32), attn.randn(1, 32, 64))
    assert tuple(out.shape) == (1, 1, 32) and tuple(w.shape) == (1, 32)
    out, w = m(attn.randn(3, 32), attn.randn(3, 32), attn.randn(3, 7, 64))
    assert tuple(out.shape) == (3, 32) and tuple(w.shape) == (3, 32)
    np.testing.assert_allclose(w.detach().numpy().sum(-1), np.ones(3), rtol=1e-6)
    with pytest.raises(attn.AttnError, match=r"max_length = 32"):
        m(attn.randn(1, 32), attn.randn(1, 32), attn.randn(1, 33, 64))
    with pytest.raises(RuntimeError, match=r"\[1, 5, 63\]"):
        m(attn.randn(1, 32), attn.randn(1, 32), attn.randn(1, 5, 63))


@pytest.mark.parametrize("case", ["self_kpm", "self_causal", "cross_memory_dim", "cross_same_dim"])
def test_self_cross_fixture(case):
    fx, md = fixture("self_cross", case), meta("self_cross", case)
    E, H, Dm = int(md["embed_dim"]), int(md["num_heads"]), int(md["memory_dim"])
    cross = "memory" in fx
    m = (attn.nn.CrossAttention(E, H, memory_dim=Dm, dtype=attn.float64) if cross
         else attn.nn.SelfAttention(E, H, dtype=attn.float64))
    assert isinstance(m, attn.nn.MultiheadAttention) and m.batch_first
    r = m.load_state_dict({k[len("param."):]: v for k, v in fx.items() if k.startswith("param.")})
    assert not r.missing_keys and not r.unexpected_keys
    x = leaf(fx["x"])
    if cross:
        mem = leaf(fx["memory"])
        out, w = m(x, mem, memory_key_padding_mask=fx.get("key_padding_mask"), need_weights=True)
    else:
        out, w = m(x, key_padding_mask=fx.get("key_padding_mask"), attn_mask=fx.get("attn_mask"), need_weights=True)
    assert_close(out, fx["out"], **F64, msg="out")
    assert_close(w, fx["weights"], **F64, msg="weights")
    ((out * fx["grad_out"]).sum() + (w * fx["grad_weights"]).sum()).backward()
    assert_close(x.grad, fx["grad_x"], **F64, msg="grad_x")
    if cross:
        assert_close(mem.grad, fx["grad_memory"], **F64, msg="grad_memory")
    for name, p in m.named_parameters():
        assert_close(p.grad, fx[f"grad.param.{name}"], **F64, msg=f"grad of {name}")


def test_self_attention_equals_multihead_and_causal():
    m = attn.nn.SelfAttention(8, 2, dtype=attn.float64)
    x = attn.randn(2, 5, 8, dtype=attn.float64)
    out, w = m(x)
    assert w is None
    ref, _ = attn.nn.MultiheadAttention.forward(m, x, x, x, need_weights=False)
    assert_close(out, ref, rtol=0, atol=0)
    causal, _ = m(x, is_causal=True)
    for t in range(5):
        prefix, _ = m(x[:, : t + 1])
        assert_close(causal[:, t], prefix[:, t], rtol=1e-12, atol=1e-13, msg=f"row {t}")


def test_functional_forms_are_sdpa():
    x, mem = attn.randn(2, 4, 8), attn.randn(2, 3, 8)
    assert_close(F.self_attention(x, is_causal=True), F.scaled_dot_product_attention(x, x, x, is_causal=True),
                 rtol=0, atol=0)
    out, w = F.cross_attention(x, mem, need_weights=True)
    assert_close(out, F.scaled_dot_product_attention(x, mem, mem), rtol=0, atol=0)
    assert tuple(w.shape) == (2, 4, 3)
