"""attn.functional.sliding_window_attention / sliding_window_mask (python/csrc/attention_local.cc)
against the PyTorch fixtures of tests/fixtures/local/ (tools/fixtures/local.py) and against the
dense band-masked scaled_dot_product_attention.

Tolerances: float64, same math in a different summation order: 1e-10.
"""
import numpy as np
import pytest

import attn
from attn import functional as F
from conftest import assert_close, fixture

F64 = dict(rtol=1e-10, atol=1e-10)


def leaf(t):
    return t.clone().requires_grad_()


@pytest.mark.parametrize("case", ["sym_2", "causal_w3_br", "lens_tl", "diag_d1"])
def test_fixture(case):
    fx = fixture("local", case)
    wl, wr, br = (int(x) for x in fx["window"].numpy())
    q, k, v = leaf(fx["q"]), leaf(fx["k"]), leaf(fx["v"])
    out, w = F.sliding_window_attention(q, k, v, window_left=wl, window_right=wr, valid_lens=fx.get("valid_lens"),
                                        align="bottom_right" if br else "top_left", need_weights=True)
    assert_close(out, fx["out"], **F64, msg="out")
    assert_close(w, fx["weights"], **F64, msg="weights")
    out.backward(fx["grad_out"])
    for name, t in (("q", q), ("k", k), ("v", v)):
        assert_close(t.grad, fx[f"grad_{name}"], **F64, msg=f"grad_{name}")


def test_equals_dense_masked_sdpa_and_keywords():
    q, k, v = (attn.randn(2, 3, n, 4, dtype=attn.float64) for n in (5, 7, 7))
    kpm = attn.tensor(np.array([[False] * 6 + [True], [False] * 7]))
    out = F.sliding_window_attention(q, k, v, 2, 1, key_padding_mask=kpm, align="bottom_right", scale=0.5)
    mask = F.sliding_window_mask(5, 7, 2, 1, align="bottom_right").numpy()[None, None] & ~kpm.numpy()[:, None, None, :]
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=attn.tensor(mask), scale=0.5)
    assert_close(out, ref, **F64)
    np.testing.assert_array_equal(F.sliding_window_mask(3, 4, -1, 0).numpy(), np.tril(np.ones((3, 4), bool)))


def test_dropout_seeded_and_errors():
    q, k, v = (attn.randn(1, 2, 6, 3) for _ in range(3))
    a = F.sliding_window_attention(q, k, v, 1, 1, dropout_p=0.5, generator=attn.Generator(3))
    b = F.sliding_window_attention(q, k, v, 1, 1, dropout_p=0.5, generator=attn.Generator(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(attn.AttnError, match=r"\[1, 2, 6, 3\]"):
        F.sliding_window_attention(q, attn.randn(1, 2, 6, 4), v, 1, 1)
    with pytest.raises(ValueError):
        F.sliding_window_attention(q, k, v, 1, 1, align="middle")
