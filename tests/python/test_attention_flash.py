"""attn.functional.flash_attention and set_sdpa_backend / get_sdpa_backend
(python/csrc/attention_flash.cc): the fused kernel against the composed scaled_dot_product_attention
(forward and input gradients) and against softmax(q k^T * scale) v written in numpy.

Tolerances: float64, same math in a different summation order: 1e-10.
"""
import numpy as np
import pytest

import attn
from attn import functional as F
from conftest import assert_close

F64 = dict(rtol=1e-10, atol=1e-10)


def leaf(t):
    return t.clone().requires_grad_()


@pytest.fixture
def composed():
    prev = F.get_sdpa_backend()
    F.set_sdpa_backend("composed")
    yield
    F.set_sdpa_backend(prev)


def test_matches_numpy_formula():
    q, k, v = (attn.randn(2, 3, n, 4, dtype=attn.float64) for n in (5, 7, 7))
    out = F.flash_attention(q, k, v, scale=0.5)
    s = q.numpy() @ np.swapaxes(k.numpy(), -1, -2) * 0.5
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    assert_close(out, p @ v.numpy(), **F64)


@pytest.mark.parametrize("causal,align", [(False, "top_left"), (True, "top_left"), (True, "bottom_right")])
def test_equals_composed_forward_and_grads(composed, causal, align):
    q, k, v = (attn.randn(2, 4, n, 6, dtype=attn.float64) for n in (70, 9, 9))
    kpm = attn.tensor(np.array([[False] * 8 + [True], [False] * 9]))
    mask = (attn.tensor(np.ones((70, 9), dtype=bool)) if not causal
            else F.sliding_window_mask(70, 9, -1, 0, align=align)).numpy()
    dense = attn.tensor(mask[None, None] & ~kpm.numpy()[:, None, None, :])
    a = [leaf(t) for t in (q, k, v)]
    out, w = F.flash_attention(*a, is_causal=causal, align=align, key_padding_mask=kpm, need_weights=True)
    b = [leaf(t) for t in (q, k, v)]
    ref = F.scaled_dot_product_attention(*b, attn_mask=dense)
    assert_close(out, ref, **F64, msg="out")
    assert w.shape == (2, 4, 70, 9)
    g = attn.randn(2, 4, 70, 6, dtype=attn.float64)
    out.backward(g)
    ref.backward(g)
    for x, y, name in zip(a, b, "qkv"):
        assert_close(x.grad, y.grad, **F64, msg=f"grad_{name}")


def test_backend_switch_and_errors():
    prev = F.get_sdpa_backend()
    try:
        for b in ("composed", "fused", "auto"):
            F.set_sdpa_backend(b)
            assert F.get_sdpa_backend() == b
        with pytest.raises(ValueError):
            F.set_sdpa_backend("gpu")
    finally:
        F.set_sdpa_backend(prev)
    q = attn.randn(2, 4, 3, 8)
    with pytest.raises(Exception, match=r"\[2, 4, 5, 7\]"):
        F.flash_attention(q, attn.randn(2, 4, 5, 7), attn.randn(2, 4, 5, 6))
