"""Positional encodings, the classic attention modules and hard attention through Python
(python/csrc/attention_modules.cc) against the committed PyTorch fixtures of
tests/fixtures/{positional,modules,hard}/ (tools/fixtures/<family>.py).

Tolerances: float64 cases 1e-10 (same math, other summation order); float32 cases (rope, detr,
sinusoidal, learned) rtol 1e-5 / atol 1e-6 (sin/cos differ by an ulp or two).
"""
import numpy as np
import pytest

import attn
from attn import functional as F
from conftest import FIXTURES, assert_close, fixture

F64 = dict(rtol=1e-10, atol=1e-10)
F32 = dict(rtol=1e-5, atol=1e-6)


def tol(t):
    return F64 if t.dtype is attn.float64 else F32


def leaf(t):
    return t.clone().requires_grad_()


@pytest.mark.parametrize("n", [1, 2, 3, 5, 12, 24])
def test_alibi_slopes(n):
    want = fixture("positional", f"alibi_slopes_{n}")["slopes"]
    assert_close(F.alibi_slopes(n, dtype=attn.float64), want, **F64)


@pytest.mark.parametrize("h, t, s", [(6, 3, 5), (4, 4, 4), (3, 1, 1)])
def test_alibi_bias(h, t, s):
    want = fixture("positional", f"alibi_bias_{h}x{t}x{s}")["bias"]
    assert_close(F.alibi_bias(h, t, s, dtype=attn.float64), want, **F64)


@pytest.mark.parametrize("offset", [0, 3])
def test_apply_rotary(offset):
    fx = fixture("positional", f"rope_offset{offset}")
    x = leaf(fx["x"])
    out = F.apply_rotary(x, offset=offset)
    assert_close(out, fx["out"], **F32)
    out.backward(fx["grad_out"])
    assert_close(x.grad, fx["grad_x"], **F32)


@pytest.mark.parametrize("shape", [(4, 1), (6, 7), (9, 8)])
def test_sinusoidal_table(shape):
    want = fixture("positional", f"sinusoidal_table_{shape[0]}x{shape[1]}")["table"]
    got = F.sinusoidal_table(*shape, dtype=want.dtype)
    assert_close(got, want, **tol(want))


def test_sinusoidal_module():
    fx = fixture("positional", "sinusoidal_forward")
    md = attn.load_metadata(FIXTURES / "positional" / "sinusoidal_forward.safetensors")
    x = fx["x"]
    m = attn.nn.SinusoidalPositionalEncoding(x.shape[-1], dropout=0.5, max_len=int(md["max_len"]), dtype=x.dtype)
    m.eval()  # dropout off
    assert_close(m(x, offset=int(md["offset"])), fx["out"], **tol(x))


def test_learned_module():
    fx = fixture("positional", "learned")
    w = fx["weight"]
    m = attn.nn.LearnedPositionalEmbedding(w.shape[0], w.shape[1], dtype=w.dtype)
    m.load_state_dict({"weight": w})
    x = leaf(fx["x"])
    out = m(x, offset=1)
    assert_close(out, fx["out"], **tol(w))
    out.backward(fx["grad_out"])
    assert_close(x.grad, fx["grad_x"], **tol(w))
    assert_close(m.weight.grad, fx["grad_weight"], **tol(w))


@pytest.mark.parametrize("normalize", [0, 1])
def test_position_embedding_sine(normalize):
    fx = fixture("positional", f"detr_sine_norm{normalize}")
    m = attn.nn.PositionEmbeddingSine(8, 10000.0, normalize=bool(normalize))
    assert_close(m(fx["mask"]), fx["out"], rtol=1e-5, atol=1e-5)


def test_relative_position_embedding():
    fx = fixture("positional", "shaw")
    T, S = fx["index"].shape
    m = attn.nn.RelativePositionEmbedding(2, fx["weight"].shape[1], dtype=fx["weight"].dtype)
    m.load_state_dict({"weight": fx["weight"]})
    np.testing.assert_array_equal(m.relative_indices(T, S).numpy(), fx["index"].numpy())
    out = m(T, S)
    assert_close(out, fx["out"], **tol(out))
    out.backward(fx["grad_out"])
    assert_close(m.weight.grad, fx["grad_weight"], **tol(out))


# --- attention modules -----------------------------------------------------------------------

def _load_params(m, fx):
    names = {n for n, _ in m.named_parameters()}
    r = m.load_state_dict({n: fx[n] for n in names})
    assert not r.missing_keys


def _check_param_grads(m, fx):
    for n, p in m.named_parameters():
        assert_close(p.grad, fx[f"grad_{n}"], **F64, msg=f"grad of {n}")


D2L = {
    "dot_none": lambda: attn.nn.DotProductAttention(0.1),
    "dot_lens_1d": lambda: attn.nn.DotProductAttention(0.1),
    "dot_lens_2d": lambda: attn.nn.DotProductAttention(0.1),
    "additive_lens_1d": lambda: attn.nn.AdditiveAttention(4, 6, 7, 0.1, dtype=attn.float64),
    "additive_lens_2d": lambda: attn.nn.AdditiveAttention(4, 6, 7, 0.1, dtype=attn.float64),
}


@pytest.mark.parametrize("case", sorted(D2L))
def test_d2l_modules(case):
    fx = fixture("modules", case)
    m = D2L[case]()
    m.eval()
    _load_params(m, fx)
    q, k, v = leaf(fx["queries"]), leaf(fx["keys"]), leaf(fx["values"])
    out = m(q, k, v, fx.get("valid_lens"))
    assert_close(out, fx["out"], **F64)
    assert_close(m.attention_weights, fx["weights"], **F64)
    out.backward(fx["grad_out"])
    for n, t in (("queries", q), ("keys", k), ("values", v)):
        assert_close(t.grad, fx[f"grad_{n}"], **F64, msg=n)
    _check_param_grads(m, fx)


STEP = {
    "bahdanau_lens": (lambda: attn.nn.BahdanauAttention(5, 4, 7, dtype=attn.float64), {}),
    "bahdanau_pad": (lambda: attn.nn.BahdanauAttention(5, 4, 7, dtype=attn.float64), {}),
    "luong_dot_global": (lambda: attn.nn.LuongAttention(4, 4, "dot", "global", 2, 4, dtype=attn.float64), {}),
    "luong_general_global": (lambda: attn.nn.LuongAttention(5, 4, "general", "global", 2, 5, dtype=attn.float64), {}),
    "luong_concat_global": (lambda: attn.nn.LuongAttention(5, 4, "concat", "global", 2, 7, dtype=attn.float64), {}),
    "luong_general_local_m": (lambda: attn.nn.LuongAttention(5, 4, "general", "local_m", 1, 5, dtype=attn.float64),
                              {"t": 2}),
    "luong_general_local_p": (lambda: attn.nn.LuongAttention(5, 4, "general", "local_p", 2, 5, dtype=attn.float64), {}),
    "luong_concat_local_p": (lambda: attn.nn.LuongAttention(5, 4, "concat", "local_p", 2, 7, dtype=attn.float64), {}),
    "luong_dot_local_p_nolens": (lambda: attn.nn.LuongAttention(4, 4, "dot", "local_p", 1, 6, dtype=attn.float64), {}),
}


@pytest.mark.parametrize("case", sorted(STEP))
def test_step_modules(case):
    fx = fixture("modules", case)
    make, kw = STEP[case]
    m = make()
    _load_params(m, fx)
    q, k, v = leaf(fx["query"]), leaf(fx["keys"]), leaf(fx["values"])
    r = m(q, k, v, valid_lens=fx.get("valid_lens"), key_padding_mask=fx.get("key_padding_mask"), **kw)
    ctx, w, pos = r
    assert r.context is ctx
    assert_close(ctx, fx["context"], **F64, msg="context")
    assert_close(w, fx["weights"], **F64, msg="weights")
    if "position" in fx:
        assert_close(pos, fx["position"], **F64, msg="position")
    else:
        assert pos is None
    ((ctx * fx["grad_context"]).sum() + (w * fx["grad_weights"]).sum()).backward()
    for n, t in (("query", q), ("keys", k)):
        assert_close(t.grad, fx[f"grad_{n}"], **F64, msg=n)
    _check_param_grads(m, fx)


def test_luong_bad_options():
    with pytest.raises(ValueError):
        attn.nn.LuongAttention(4, 4, score="bilinear")
    with pytest.raises(ValueError):
        attn.nn.LuongAttention(4, 4, mode="local")


# --- hard attention ----------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["topk1", "topk2", "topk2_dim1", "topk6"])
def test_topk_attention(case):
    fx = fixture("hard", case)
    md = attn.load_metadata(FIXTURES / "hard" / f"{case}.safetensors")
    s = leaf(fx["scores"])
    out = F.topk_attention(s, int(md["k"]), dim=int(md.get("dim", -1)))
    assert_close(out, fx["out"], **tol(out))
    out.backward(fx["grad_out"])
    assert_close(s.grad, fx["grad_scores"], **tol(out))


def test_gumbel_and_sampling():
    logits = attn.randn(4, 6, dtype=attn.float64)
    g = attn.Generator().manual_seed(3)
    y = F.gumbel_softmax(logits, tau=0.5, generator=g)
    np.testing.assert_allclose(y.numpy().sum(-1), 1.0, rtol=1e-12)
    assert (y.numpy() > 0).all()
    h = F.gumbel_softmax(logits, hard=True, generator=attn.Generator().manual_seed(3))
    assert ((h.numpy() == 0) | (h.numpy() == 1)).all() and (h.numpy().sum(-1) == 1).all()
    # Same generator seed, same sample: hard is the argmax of the soft sample.
    y3 = F.gumbel_softmax(logits, generator=attn.Generator().manual_seed(3))
    np.testing.assert_array_equal(h.numpy().argmax(-1), y3.numpy().argmax(-1))
    probs = F.softmax(logits, -1)
    one_hot, idx, logp = F.sample_attention(probs, generator=attn.Generator().manual_seed(1))
    np.testing.assert_array_equal(one_hot.numpy().argmax(-1), idx.numpy())
    np.testing.assert_allclose(logp.numpy(), np.log(probs.numpy()[np.arange(4), idx.numpy()]), rtol=1e-12)
    hard = F.hard_argmax(probs)
    np.testing.assert_array_equal(hard.numpy().argmax(-1), probs.numpy().argmax(-1))
