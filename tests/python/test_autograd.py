"""Autograd from Python: backward on small expressions against hand-derived gradients and
numpy finite differences, grad modes, autograd.grad, gradcheck, and the GIL released in backward."""
import gc
import threading
import time
import weakref

import numpy as np
import pytest

import attn
from conftest import assert_close


def numeric_grad(f, x, eps=1e-6):
    """Central differences of a scalar numpy function f at x (float64)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


def test_backward_of_small_expression_matches_hand_derivation(rng):
    a_np = rng.standard_normal((3, 4))
    b_np = rng.random(4) + 0.5
    a = attn.tensor(a_np, requires_grad=True)
    b = attn.tensor(b_np, requires_grad=True)
    # L = sum((a + b) * a - a / b)
    loss = ((a + b) * a - a / b).sum()
    assert loss.shape == () and loss.grad_fn is not None
    loss.backward()
    # dL/da = 2a + b - 1/b ; dL/db = sum_rows(a + a / b^2)
    assert_close(a.grad, 2 * a_np + b_np - 1 / b_np, rtol=1e-12, atol=1e-12)
    assert_close(b.grad, (a_np + a_np / b_np**2).sum(0), rtol=1e-12, atol=1e-12)


def test_backward_matches_finite_differences(rng):
    x_np = rng.standard_normal((2, 5))
    w_np = rng.standard_normal((5, 3))

    def f_np(x):
        z = x @ w_np
        e = np.exp(z - z.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
        return float((p * np.tanh(z)).sum())

    x = attn.tensor(x_np, requires_grad=True)
    w = attn.tensor(w_np)
    z = x @ w
    loss = (attn.softmax(z, dim=-1) * attn.tanh(z)).sum()
    assert abs(loss.item() - f_np(x_np)) < 1e-12
    loss.backward()
    # float64 central differences with eps 1e-6: truncation + rounding error ~1e-9.
    assert_close(x.grad, numeric_grad(f_np, x_np), rtol=1e-6, atol=1e-8)


def test_backward_with_gradient_and_accumulation():
    x = attn.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(attn.tensor([1.0, 0.0, 2.0]), retain_graph=True)
    assert x.grad.tolist() == [2.0, 0.0, 12.0]
    y.backward(attn.tensor([1.0, 1.0, 1.0]))  # gradients accumulate into .grad
    assert x.grad.tolist() == [4.0, 4.0, 18.0]
    with pytest.raises(attn.AttnError):
        y.backward(attn.ones(3))  # the graph was freed by the previous backward
    x.grad = None
    assert x.grad is None
    (x * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0, 3.0]


def test_backward_errors():
    x = attn.ones(3, requires_grad=True)
    with pytest.raises(attn.AttnError, match="scalar"):
        (x * 2).backward()
    with pytest.raises(attn.AttnError, match="does not require grad"):
        attn.ones(3).sum().backward()


def test_leaves_detach_and_retain_grad():
    x = attn.ones(2, requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.requires_grad
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    y.retain_grad()
    (y * y).sum().backward()
    assert y.grad.tolist() == [4.0, 4.0]
    assert x.grad.tolist() == [8.0, 8.0]


def test_no_grad_and_friends():
    x = attn.ones(2, requires_grad=True)
    with attn.no_grad():
        assert not attn.is_grad_enabled()
        y = x * 2
        with attn.enable_grad():
            z = x * 2
    assert attn.is_grad_enabled()
    assert not y.requires_grad and z.requires_grad

    @attn.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad
    with attn.set_grad_enabled(False):
        assert not (x * 1).requires_grad
    assert attn.is_grad_enabled()
    # exceptions restore the mode too
    with pytest.raises(ValueError):
        with attn.no_grad():
            raise ValueError
    assert attn.is_grad_enabled()


def test_autograd_grad_leaves_dot_grad_alone():
    x = attn.tensor([1.0, 2.0], requires_grad=True)
    w = attn.tensor([3.0, 4.0], requires_grad=True)
    y = (x * w).sum()
    gx, gw = attn.autograd.grad(y, [x, w])
    assert gx.tolist() == [3.0, 4.0] and gw.tolist() == [1.0, 2.0]
    assert x.grad is None and w.grad is None
    (g,) = attn.autograd.grad([x * x], [x], grad_outputs=[attn.tensor([1.0, 0.5])])
    assert g.tolist() == [2.0, 2.0]
    with pytest.raises(NotImplementedError):
        attn.autograd.grad(y, x, create_graph=True)


def test_gradcheck_passes_and_fails():
    a = attn.randn(3, 4, dtype=attn.float64, requires_grad=True)
    b = attn.randn(4, dtype=attn.float64, requires_grad=True)
    assert attn.gradcheck(lambda a, b: attn.softmax(a * b, dim=-1), (a, b))
    assert attn.autograd.gradcheck(lambda a: attn.functional.layer_norm(a, [4]), [a])

    # A wrong gradient: detach() hides x from autograd in one factor, so analytic d(x*x) = x, not 2x.
    def wrong(x):
        return x * x.detach()

    with pytest.raises(attn.autograd.GradcheckError, match="input 0"):
        attn.gradcheck(wrong, (a,))
    assert attn.gradcheck(wrong, (a,), raise_exception=False) is False
    with pytest.raises(attn.AttnError, match="float64"):
        attn.gradcheck(lambda t: t * 2, (attn.randn(2, requires_grad=True),))


def test_backward_releases_the_gil():
    """Another Python thread runs while backward (matmuls, tanh) works in C++.

    The ticker records timestamps. If backward held the GIL, the ticker could run only around its
    start and end (at most one 5 ms switch interval); released, it ticks throughout, so ticks
    appear in the middle half of the backward's duration.
    """
    attn.set_num_threads(1)  # leave the second core to the ticker (the fixture restores the count)
    n = 192 if attn.use_reference_kernels() else 512  # the scalar reference GEMM is ~30x slower
    x = attn.randn(n, n, requires_grad=True)
    w = attn.randn(n, n) * (1 / n**0.5)
    h = x
    for _ in range(12):
        h = attn.tanh(h @ w)
    loss = h.sum()
    stamps = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            stamps.append(time.perf_counter())

    t = threading.Thread(target=ticker)
    t.start()
    try:
        time.sleep(0.01)
        t0 = time.perf_counter()
        loss.backward()
        t1 = time.perf_counter()
    finally:
        stop.set()
        t.join()
    assert x.grad is not None and x.grad.shape == (n, n)
    if t1 - t0 < 0.03:  # the middle half must start well after one 5 ms switch interval
        pytest.skip(f"backward took {1e3 * (t1 - t0):.1f} ms, too short to tell")
    lo, hi = t0 + 0.25 * (t1 - t0), t1 - 0.25 * (t1 - t0)
    assert any(lo < s < hi for s in stamps), "no Python thread ran during backward: is the GIL released?"


def test_numpy_memory_freed_inside_backward():
    """The graph holds the last reference to a from_numpy tensor; backward frees it while the GIL
    is released, so the storage's deleter must take the GIL before dropping the array."""
    a = np.array([1.0, 2.0, 3.0])
    ref = weakref.ref(a)
    x = attn.ones(3, dtype=attn.float64, requires_grad=True)
    y = (x * attn.from_numpy(a)).sum()
    del a
    gc.collect()
    assert ref() is not None  # kept by the saved tensor in mul's backward
    y.backward()
    gc.collect()
    assert ref() is None  # released by backward, without deadlock or crash
    assert x.grad.tolist() == [1.0, 2.0, 3.0]
