"""attn.functional against small numpy re-implementations of each op, through the Python
signatures (PyTorch's keyword names), plus the Tensor methods attached from it.

Tolerances: inputs are float64 unless stated, so agreement is to ~1e-12 relative; float32 checks
allow ~1e-6 relative (a few roundings)."""
import math

import numpy as np
import pytest

import attn
import attn.nn.functional as NF
from attn import functional as F
from conftest import assert_close

TIGHT = dict(rtol=1e-10, atol=1e-12)  # float64 vs float64 numpy


def t64(a, requires_grad=False):
    return attn.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


def np_softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def test_nn_functional_is_functional():
    assert NF.softmax is F.softmax and NF.cross_entropy is F.cross_entropy
    assert attn.matmul is F.matmul and attn.softmax is F.softmax  # torch-style top level


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_and_log_softmax(dim, rng):
    x = rng.standard_normal((3, 5, 4)) * 4
    assert_close(F.softmax(t64(x), dim=dim), np_softmax(x, dim), **TIGHT)
    assert_close(F.log_softmax(t64(x), dim), np_log_softmax(x, dim), **TIGHT)
    assert_close(t64(x).softmax(dim), np_softmax(x, dim), **TIGHT)
    # dtype= converts first, as torch
    assert F.softmax(attn.tensor(x.astype(np.float32)), dim=dim, dtype=attn.float64).dtype is attn.float64
    # large logits stay finite
    big = F.softmax(t64([[1000.0, 0.0, -1000.0]]), dim=-1)
    assert_close(big, [[1.0, 0.0, 0.0]], **TIGHT)


def test_layer_norm(rng):
    x = rng.standard_normal((2, 3, 6)) * 3 + 1
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    mu = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)  # biased, as layer_norm uses
    want = (x - mu) / np.sqrt(var + 1e-5) * w + b
    assert_close(F.layer_norm(t64(x), (6,), t64(w), t64(b)), want, **TIGHT)
    assert_close(F.layer_norm(t64(x), 6, weight=t64(w), bias=t64(b), eps=1e-5), want, **TIGHT)
    # two normalized dims, no affine, another eps
    mu2 = x.mean((-2, -1), keepdims=True)
    var2 = x.var((-2, -1), keepdims=True)
    assert_close(F.layer_norm(t64(x), [3, 6], eps=1e-3), (x - mu2) / np.sqrt(var2 + 1e-3), **TIGHT)


def test_matmul_family(rng):
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4, 5))
    assert_close(F.matmul(t64(a), t64(b)), a @ b, **TIGHT)
    assert_close(F.bmm(t64(a), t64(b)), a @ b, **TIGHT)
    assert_close(F.mm(t64(a[0]), t64(b[0])), a[0] @ b[0], **TIGHT)
    assert_close(t64(a) @ t64(b[0]), a @ b[0], **TIGHT)  # broadcast batch
    assert_close(t64(a[0, 0]) @ t64(a[0, 0]), a[0, 0] @ a[0, 0], **TIGHT)  # dot -> 0-d
    assert_close(t64(a).transpose(1, 2) @ t64(a), a.transpose(0, 2, 1) @ a, **TIGHT)  # strided operand
    w, bias = rng.standard_normal((5, 4)), rng.standard_normal(5)
    assert_close(F.linear(t64(a), t64(w), t64(bias)), a @ w.T + bias, **TIGHT)
    assert_close(F.linear(t64(a), t64(w)), a @ w.T, **TIGHT)
    with pytest.raises(attn.AttnError, match=r"\[2, 3, 4\]"):
        F.bmm(t64(a), t64(a))


def np_cross_entropy(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Reference for class-index targets; x [N, C], t [N]."""
    n, c = x.shape
    w = np.ones(c) if weight is None else weight
    logp = np_log_softmax(x, 1)
    keep = t != ignore_index
    tt = np.where(keep, t, 0)
    nll = -w[tt] * logp[np.arange(n), tt]
    smooth = -(w * logp).sum(1) / c
    loss = np.where(keep, (1 - label_smoothing) * nll + label_smoothing * smooth, 0.0)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / (w[tt] * keep).sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
def test_cross_entropy(reduction, label_smoothing, rng):
    x = rng.standard_normal((6, 5)) * 2
    t = np.array([0, 4, 2, 1, 3, 2])
    t[3] = 2  # duplicates are fine
    w = rng.random(5) + 0.5
    t_ign = t.copy()
    t_ign[1] = 7  # ignored below
    for weight, target, ignore in [(None, t, -100), (w, t, -100), (w, t_ign, 7)]:
        got = F.cross_entropy(t64(x), attn.tensor(target), weight=None if weight is None else t64(weight),
                              ignore_index=ignore, reduction=reduction, label_smoothing=label_smoothing)
        want = np_cross_entropy(x, target, weight, ignore, reduction, label_smoothing)
        assert_close(got, want, **TIGHT)


def test_cross_entropy_gradient_and_errors(rng):
    x_np = rng.standard_normal((4, 3))
    t = np.array([2, 0, 1, 1])
    x = t64(x_np, requires_grad=True)
    F.cross_entropy(x, attn.tensor(t)).backward()
    onehot = np.eye(3)[t]
    assert_close(x.grad, (np_softmax(x_np, 1) - onehot) / 4, **TIGHT)
    with pytest.raises(attn.AttnError, match="5"):
        F.cross_entropy(t64(x_np), attn.tensor([0, 1, 5, 0]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(t64(x_np), attn.tensor(t), reduction="avg")


def test_nll_and_mse(rng):
    x = rng.standard_normal((5, 4))
    logp = np_log_softmax(x, 1)
    t = np.array([3, 0, 1, 1, 2])
    assert_close(F.nll_loss(t64(logp), attn.tensor(t)), -logp[np.arange(5), t].mean(), **TIGHT)
    assert_close(F.nll_loss(t64(logp), attn.tensor(t), reduction="none"), -logp[np.arange(5), t], **TIGHT)
    y = rng.standard_normal((5, 4))
    assert_close(F.mse_loss(t64(x), t64(y)), ((x - y) ** 2).mean(), **TIGHT)
    assert_close(F.mse_loss(t64(x), t64(y), reduction="sum"), ((x - y) ** 2).sum(), **TIGHT)
    with pytest.raises(attn.AttnError, match=r"\[5, 4\].*\[4\]|\[4\].*\[5, 4\]"):
        F.mse_loss(t64(x), t64(y[0]))


def test_reductions(rng):
    x = rng.standard_normal((3, 4, 5))
    tx = t64(x)
    assert_close(F.sum(tx), x.sum(), **TIGHT)
    assert_close(tx.sum(dim=1), x.sum(1), **TIGHT)
    assert_close(tx.sum((0, 2), keepdim=True), x.sum((0, 2), keepdims=True), **TIGHT)
    assert_close(tx.mean(-1), x.mean(-1), **TIGHT)
    assert_close(tx.var(1), x.var(1, ddof=1), **TIGHT)
    assert_close(tx.var(1, unbiased=False), x.var(1), **TIGHT)
    assert_close(tx.std(dim=(0, 1), correction=0), x.std((0, 1)), **TIGHT)
    assert_close(tx.logsumexp(2), np.log(np.exp(x).sum(2)), **TIGHT)
    assert_close(tx.cumsum(1), x.cumsum(1), **TIGHT)
    assert_close(tx.max(), x.max(), **TIGHT)
    values, indices = tx.max(dim=1)
    assert_close(values, x.max(1), **TIGHT)
    np.testing.assert_array_equal(indices.numpy(), x.argmax(1))
    r = tx.min(2, keepdim=True)
    assert r.values.shape == (3, 4, 1) and r.indices.dtype is attn.int64
    np.testing.assert_array_equal(tx.argmax().numpy(), x.argmax())
    np.testing.assert_array_equal(F.argmin(tx, dim=0).numpy(), x.argmin(0))
    assert_close(F.amax(tx, 1), x.max(1), **TIGHT)
    assert attn.tensor([[1, 2], [3, 4]]).sum().item() == 10
    assert attn.tensor([True, True, False]).sum().dtype is attn.int64
    with pytest.raises(attn.AttnError, match=r"\[3, 4, 5\]"):
        tx.sum(dim=3)


def test_unary_and_activations(rng):
    x = rng.standard_normal((4, 7)) * 2
    pos = rng.random((4, 7)) + 0.1
    tx, tp = t64(x), t64(pos)
    erf = np.vectorize(math.erf)
    cases = [
        (F.exp(tx), np.exp(x)), (F.log(tp), np.log(pos)), (F.sqrt(tp), np.sqrt(pos)), (F.rsqrt(tp), 1 / np.sqrt(pos)),
        (F.expm1(tx), np.expm1(x)), (F.log1p(tp), np.log1p(pos)), (F.abs(tx), np.abs(x)), (abs(tx), np.abs(x)),
        (F.sin(tx), np.sin(x)), (F.cos(tx), np.cos(x)), (F.tanh(tx), np.tanh(x)), (F.square(tx), x * x),
        (F.sigmoid(tx), 1 / (1 + np.exp(-x))), (F.relu(tx), np.maximum(x, 0)), (F.silu(tx), x / (1 + np.exp(-x))),
        (F.leaky_relu(tx, negative_slope=0.2), np.where(x > 0, x, 0.2 * x)), (F.leaky_relu(tx), np.where(x > 0, x, 0.01 * x)),
        (F.gelu(tx), 0.5 * x * (1 + erf(x / np.sqrt(2)))),
        (F.gelu(tx, approximate="tanh"), 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))),
        (F.clamp(tx, min=-0.5, max=0.7), np.clip(x, -0.5, 0.7)), (F.clamp(tx, max=0.1), np.minimum(x, 0.1)),
        (tx.clamp(min=0.2), np.maximum(x, 0.2)), (F.pow(tp, 1.5), pos**1.5), (tp ** t64(x), pos**x),
        (F.pow(2.0, tx), 2.0**x), (F.maximum(tx, 0.3), np.maximum(x, 0.3)), (F.minimum(tx, tp), np.minimum(x, pos)),
    ]
    for i, (got, want) in enumerate(cases):
        assert_close(got, want, rtol=1e-9, atol=1e-12, msg=f"case {i}")


def test_compare_where_masked_fill(rng):
    x = rng.standard_normal((3, 4))
    tx = t64(x)
    np.testing.assert_array_equal(F.gt(tx, 0).numpy(), x > 0)
    np.testing.assert_array_equal(F.le(0.5, tx).numpy(), 0.5 <= x)
    np.testing.assert_array_equal(F.eq(tx, tx).numpy(), np.ones((3, 4), bool))
    np.testing.assert_array_equal(F.logical_and(tx > 0, tx < 1).numpy(), (x > 0) & (x < 1))
    np.testing.assert_array_equal(F.logical_not(tx > 0).numpy(), ~(x > 0))
    np.testing.assert_array_equal(F.isnan(t64([1.0, np.nan])).numpy(), [False, True])
    assert F.any(tx > 2).item() == bool((x > 2).any()) and F.all(tx > -10).item()
    assert_close(F.where(tx > 0, tx, 0.0), np.where(x > 0, x, 0.0), **TIGHT)
    assert_close(F.where(tx > 0, 1.0, tx), np.where(x > 0, 1.0, x), **TIGHT)
    assert_close(F.where(tx > 0, tx, -tx), np.abs(x), **TIGHT)
    mask = np.array([[True], [False], [True]])
    assert_close(F.masked_fill(tx, attn.tensor(mask), -1e9), np.where(mask, -1e9, x), **TIGHT)
    assert_close(tx.masked_fill(attn.tensor(mask), 0.0), np.where(mask, 0.0, x), **TIGHT)


def test_shape_ops(rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 1))
    assert_close(F.cat([t64(a), t64(b)], dim=1), np.concatenate([a, b], 1), **TIGHT)
    assert_close(attn.stack([t64(a), t64(a)], dim=1), np.stack([a, a], 1), **TIGHT)
    parts = F.split(t64(a), 2, dim=1)
    assert [p.shape for p in parts] == [(2, 2), (2, 1)]
    assert [p.shape for p in t64(a).split([1, 2], 1)] == [(2, 1), (2, 2)]
    assert [p.shape for p in F.chunk(t64(a), 3, dim=1)] == [(2, 1)] * 3
    sq = rng.standard_normal((2, 4, 4))
    assert_close(F.triu(t64(sq), 1), np.triu(sq, 1), **TIGHT)
    assert_close(F.tril(t64(sq), diagonal=-1), np.tril(sq, -1), **TIGHT)
    assert_close(F.flip(t64(sq), [0, 2]), sq[::-1, :, ::-1], **TIGHT)
    assert_close(t64(a).repeat(2, 1, 3), np.tile(a, (2, 1, 3)), **TIGHT)
    with pytest.raises(attn.AttnError, match=r"\[2, 3\].*\[3, 2\]|\[3, 2\].*\[2, 3\]"):
        F.cat([t64(a), t64(a.T)], dim=0)


def test_index_ops(rng):
    x = rng.standard_normal((4, 5))
    idx = np.array([3, 0, 3])
    assert_close(F.index_select(t64(x), 0, attn.tensor(idx)), x[idx], **TIGHT)
    g = rng.integers(0, 5, (4, 2))
    assert_close(F.gather(t64(x), 1, attn.tensor(g)), np.take_along_axis(x, g, 1), **TIGHT)
    src = rng.standard_normal((4, 2))
    want = x.copy()
    for i in range(4):
        for j in range(2):
            want[i, g[i, j]] += src[i, j]
    assert_close(F.scatter_add(t64(x), 1, attn.tensor(g), t64(src)), want, **TIGHT)
    ids = np.array([[1, 0], [3, 3]])
    assert_close(F.embedding(attn.tensor(ids), t64(x)), x[ids], **TIGHT)
    np.testing.assert_array_equal(F.one_hot(attn.tensor([0, 2]), num_classes=3).numpy(), [[1, 0, 0], [0, 0, 1]])
    with pytest.raises(attn.AttnError, match="7"):
        F.index_select(t64(x), 0, attn.tensor([7]))


def test_sort_and_topk(rng):
    x = rng.standard_normal((3, 6))
    r = F.sort(t64(x), dim=1, descending=True)
    assert_close(r.values, -np.sort(-x, 1), **TIGHT)
    np.testing.assert_array_equal(r.indices.numpy(), np.argsort(-x, 1, kind="stable"))
    np.testing.assert_array_equal(t64(x).argsort(dim=0).numpy(), np.argsort(x, 0, kind="stable"))
    values, indices = t64(x).topk(2, dim=1, largest=False)
    assert_close(values, np.sort(x, 1)[:, :2], **TIGHT)
    np.testing.assert_array_equal(indices.numpy(), np.argsort(x, 1, kind="stable")[:, :2])


def test_dropout_statistics_and_modes():
    x = attn.ones(20000)
    y = F.dropout(x, p=0.25).numpy()
    kept = y != 0
    # Each element kept with probability 0.75: 20000 draws, std of the rate 0.003, 5 sigma.
    assert abs(kept.mean() - 0.75) < 0.016
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).numpy(), x.numpy())
    a = F.dropout(x, 0.5, generator=attn.Generator(3)).numpy()
    b = F.dropout(x, 0.5, generator=attn.Generator(3)).numpy()
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="inplace"):
        F.dropout(x, 0.5, inplace=True)
