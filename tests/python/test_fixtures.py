"""attn through Python against PyTorch's values: the committed fixtures of tests/fixtures/
(made by tools/gen_fixtures.py with torch 1.13; see tools/fixtures/<family>.py for each case).

Each case runs the same call through attn.functional, compares the output, then back-propagates
the stored grad_out and compares the input gradients. Tolerance for float32: rtol 1e-5 /
atol 1e-6 (the libraries round in different orders; transcendental functions differ by an ulp or
two); float64 cases: 1e-10.
"""
import pytest

import attn
from attn import functional as F
from conftest import FIXTURES, assert_close, fixture


def check(fx, fn, inputs, out_key="out", grad_out_key="grad_out", grad_keys=None, rtol=None, atol=None):
    """Runs fn(**tensors) with the fixture's inputs, compares out and grad_<input>."""
    tensors = {}
    for name in inputs:
        t = fx[name]
        if t.dtype.is_floating_point and f"grad_{name}" in fx:
            t = t.clone().requires_grad_()
        tensors[name] = t
    out = fn(**tensors)
    want = fx[out_key]
    f64 = want.dtype is attn.float64
    rtol = rtol or (1e-10 if f64 else 1e-5)
    atol = atol or (1e-10 if f64 else 1e-6)
    assert out.dtype is want.dtype
    assert_close(out, want, rtol=rtol, atol=atol, msg="forward")
    if grad_out_key in fx and out.requires_grad:
        out.backward(fx[grad_out_key])
        for name, t in tensors.items():
            key = (grad_keys or {}).get(name, f"grad_{name}")
            if key in fx:
                assert t.grad is not None, f"no gradient reached {name}"
                assert_close(t.grad, fx[key], rtol=rtol, atol=atol, msg=f"grad of {name}")


def test_elementwise():
    fx = fixture("elementwise", "arith")
    check(fx, lambda a, b: (a + b) * a - a / b, ["a", "b"])


UNARY = {
    "exp": F.exp, "expm1": F.expm1, "log": F.log, "log1p": F.log1p, "sqrt": F.sqrt, "rsqrt": F.rsqrt,
    "abs": F.abs, "square": F.square, "sin": F.sin, "cos": F.cos, "tanh": F.tanh, "sigmoid": F.sigmoid,
    "relu": F.relu, "silu": F.silu, "gelu": F.gelu,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "clamp": lambda x: attn.clamp(x, -0.5, 0.7),
    "clamp_min": lambda x: x.clamp(min=-0.3),
    "clamp_max": lambda x: x.clamp(max=0.4),
    "pow_2": lambda x: x ** 2, "pow_3": lambda x: attn.pow(x, 3.0), "pow_0_5": lambda x: x ** 0.5,
    "pow_m1_5": lambda x: x ** -1.5, "pow_0": lambda x: x ** 0,
}


@pytest.mark.parametrize("case", sorted(UNARY))
def test_unary(case):
    check(fixture("unary", case), lambda x: UNARY[case](x), ["x"])


@pytest.mark.parametrize("case, fn", [("maximum", F.maximum), ("minimum", F.minimum), ("pow_tensor", lambda a, b: a ** b)])
def test_binary(case, fn):
    check(fixture("unary", case), lambda a, b: fn(a, b), ["a", "b"])


@pytest.mark.parametrize("case", ["softmax_last", "softmax_dim1", "softmax_dim0", "softmax_large", "softmax_masked",
                                  "log_softmax_last", "log_softmax_dim1", "log_softmax_dim0", "log_softmax_large"])
def test_softmax(case):
    fx = fixture("softmax", case)
    meta = attn.load_metadata(_path("softmax", case))
    op = getattr(F, meta["op"])
    # *_large: logits ~30 * N(0, 1), so log-probabilities reach ~-120, where one float32 ulp is
    # 7.6e-6; the absolute tolerance follows the magnitude.
    tol = dict(atol=2e-5) if case.endswith("large") else {}
    check(fx, lambda x: op(x, dim=int(meta["dim"])), ["x"], **tol)


def _path(family, case):
    return FIXTURES / family / f"{case}.safetensors"


@pytest.mark.parametrize("case, shape, eps", [("affine", [37], 1e-5), ("affine_2d", [4, 5], 1e-5), ("no_affine", [17], 1e-5),
                                              ("weight_only", [9], 1e-5), ("large_mean", [64], 1e-3)])
def test_layer_norm(case, shape, eps):
    fx = fixture("normalization", case)
    names = [n for n in ("x", "weight", "bias") if n in fx]
    # large_mean stores float64 results rounded to float32; attn computes in float32 with a
    # two-pass variance, so allow 1e-4 relative there (PyTorch itself is ~1e-4 off).
    tol = dict(rtol=1e-4, atol=1e-4) if case == "large_mean" else {}
    check(fx, lambda **t: F.layer_norm(t["x"], shape, t.get("weight"), t.get("bias"), eps=eps), names, **tol)


LINALG = {
    "mm": lambda a, b: F.mm(a, b), "bmm": lambda a, b: F.bmm(a, b), "matmul_2d_batch": lambda a, b: a @ b,
    "matmul_batch_2d": lambda a, b: a @ b, "matmul_batch_v": lambda a, b: attn.matmul(a, b),
    "matmul_broadcast": lambda a, b: a @ b, "matmul_mv": lambda a, b: a @ b, "matmul_vm_batch": lambda a, b: a @ b,
}


@pytest.mark.parametrize("case", sorted(LINALG))
def test_linalg(case):
    check(fixture("linalg", case), LINALG[case], ["a", "b"])


def test_linalg_dot_and_linear():
    fx = fixture("linalg", "matmul_dot")
    # torch stored the 0-d dot as shape (1,); compare values through reshape.
    check(fx, lambda a, b: (a @ b).reshape(1), ["a", "b"])
    check(fixture("linalg", "linear"), lambda x, weight, bias: F.linear(x, weight, bias), ["x", "weight", "bias"])
    check(fixture("linalg", "linear_nobias"), lambda x, weight: F.linear(x, weight), ["x", "weight"])


@pytest.mark.parametrize("case", ["ce_basic", "ce_weight_smooth", "ce_kdim", "ce_probs", "ce_large", "ce_unbatched",
                                  "ce_all_ignored", "nll_kdim", "mse"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_losses(case, reduction):
    fx = fixture("loss", case)
    meta = attn.load_metadata(_path("loss", case))
    # ce_all_ignored with "mean" is 0 / 0 = NaN in both libraries (assert_allclose takes NaN == NaN).
    weight = fx.get("weight")
    kw = {}
    if case.startswith("ce"):
        fn = F.cross_entropy
        kw = dict(weight=weight, ignore_index=int(meta["ignore_index"]), label_smoothing=float(meta["label_smoothing"]))
    elif case.startswith("nll"):
        fn = F.nll_loss
        kw = dict(weight=weight, ignore_index=int(meta["ignore_index"]))
    else:
        fn = F.mse_loss
    grad_keys = {"input": f"grad_input_{reduction}", "target": f"grad_target_{reduction}"}
    check(fx, lambda input, target: fn(input, target, reduction=reduction, **kw), ["input", "target"],
          out_key=f"out_{reduction}", grad_out_key=f"grad_out_{reduction}", grad_keys=grad_keys)


REDUCE = {
    "sum_all": lambda x: x.sum().reshape(1), "sum_dim1_keep": lambda x: x.sum(1, keepdim=True),
    "sum_dims02": lambda x: x.sum((0, 2)), "mean_all": lambda x: x.mean().reshape(1),
    "mean_dims01": lambda x: x.mean([0, 1]), "mean_neg_keep": lambda x: x.mean(-1, keepdim=True),
    "std_all": lambda x: x.std().reshape(1), "std_last": lambda x: x.std(-1), "var_dim1": lambda x: x.var(1),
    "var_dims02_biased_keep": lambda x: x.var((0, 2), correction=0, keepdim=True),
    "logsumexp_dim1": lambda x: x.logsumexp(1), "logsumexp_dim2": lambda x: attn.logsumexp(x, 2),
    "logsumexp_dims02_keep": lambda x: x.logsumexp((0, 2), keepdim=True),
    "cumsum_dim0": lambda x: x.cumsum(0), "cumsum_dim1": lambda x: x.cumsum(1),
    "max_all": lambda x: x.max().reshape(1), "min_all": lambda x: x.min().reshape(1),
    "max_dim1": lambda x: x.max(1).values, "min_dim_last_keep": lambda x: x.min(-1, keepdim=True).values,
    "sum_int": lambda x: x.sum(1),
}


@pytest.mark.parametrize("case", sorted(REDUCE))
def test_reduce(case):
    fx = fixture("reduce", case)
    check(fx, REDUCE[case], ["x"])
    if "indices" in fx:
        dim, keep = (1, False) if case == "max_dim1" else (-1, True)
        r = getattr(fx["x"], case[:3])(dim, keepdim=keep)
        assert r.indices.tolist() == fx["indices"].tolist()


def test_argmax_argmin():
    for case, fn in [("argmax_all", lambda x: x.argmax()), ("argmax_dim0", lambda x: x.argmax(0)),
                     ("argmin_all", lambda x: F.argmin(x))]:
        fx = fixture("reduce", case)
        assert fn(fx["x"]).reshape(-1).tolist() == fx["out"].reshape(-1).tolist(), case


def test_compare():
    fx = fixture("compare", "compare")
    a, b = fx["a"], fx["b"]
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        assert getattr(F, name)(a, b).tolist() == fx[name].tolist(), name
    assert (a < 0.25).tolist() == fx["lt_scalar"].tolist()
    assert (a >= -0.5).tolist() == fx["ge_scalar"].tolist()
    check(fixture("compare", "where"), lambda condition, a, b: F.where(condition, a, b), ["condition", "a", "b"])
    # masked_fill's value is not stored; tools/fixtures/compare.py uses -1e9 (read back from out).
    fx = fixture("compare", "masked_fill")
    value = fx["out"].numpy()[fx["mask"].expand(*fx["out"].shape).numpy()]
    check(fx, lambda x, mask: F.masked_fill(x, mask, float(value[0])), ["x", "mask"])


SHAPE = {
    "cat": (["a", "b", "c"], lambda a, b, c: attn.cat([a, b, c], 1)),
    "stack": (["a", "b", "c"], lambda a, b, c: attn.stack([a, b, c], 1)),
    "flip": (["x"], lambda x: attn.flip(x, [0, 2])),
    "repeat": (["x"], lambda x: x.repeat(2, 1, 3)),
    "tril": (["x"], lambda x: attn.tril(x, -1)),
    "triu": (["x"], lambda x: x.triu(1)),
}


@pytest.mark.parametrize("case", sorted(SHAPE))
def test_shape(case):
    names, fn = SHAPE[case]
    check(fixture("shape", case), fn, names)


@pytest.mark.parametrize("case, fn", [("split", lambda x: attn.split(x, 2, 0)), ("split_sizes", lambda x: x.split([1, 4, 2], 1)),
                                      ("chunk", lambda x: attn.chunk(x, 3, 1))])
def test_split_family(case, fn):
    fx = fixture("shape", case)
    x = fx["x"].clone().requires_grad_()
    parts = fn(x)
    assert len(parts) == 3
    loss = None
    for i, p in enumerate(parts):
        assert_close(p, fx[f"out{i}"], msg=f"piece {i}")
        term = (p * fx[f"grad_out{i}"]).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    assert_close(x.grad, fx["grad_x"])


def test_index():
    check(fixture("index", "index_select"), lambda x, index: F.index_select(x, 1, index), ["x", "index"])
    check(fixture("index", "gather"), lambda x, index: x.gather(1, index), ["x", "index"])
    check(fixture("index", "gather_dim0"), lambda x, index: attn.gather(x, 0, index), ["x", "index"])
    check(fixture("index", "scatter_add"), lambda x, index, src: F.scatter_add(x, 1, index, src), ["x", "index", "src"])
    check(fixture("index", "embedding"), lambda indices, weight: F.embedding(indices, weight, padding_idx=2),
          ["indices", "weight"])
    check(fixture("index", "embedding_nopad"), lambda indices, weight: F.embedding(indices, weight), ["indices", "weight"])
    fx = fixture("index", "one_hot")
    assert F.one_hot(fx["indices"]).tolist() == fx["out"].tolist()
    assert F.one_hot(fx["indices"], 5).tolist() == fx["out5"].tolist()


SORT = {
    "sort": lambda x: attn.sort(x, 1), "sort_desc_dim0": lambda x: x.sort(0, descending=True),
    "sort_nan": lambda x: x.sort(dim=0), "sort_nan_desc": lambda x: x.sort(dim=0, descending=True),
    "sort_ties": lambda x: x.sort(dim=1), "sort_ties_desc": lambda x: x.sort(dim=1, descending=True),
    "topk": lambda x: x.topk(3, 1), "topk_smallest_dim0": lambda x: attn.topk(x, 2, 0, largest=False),
}


@pytest.mark.parametrize("case", sorted(SORT))
def test_sort(case):
    fx = fixture("sort", case)
    r = SORT[case](fx["x"])
    assert r.indices.tolist() == fx["indices"].tolist()
    check(fx, lambda x: SORT[case](x).values, ["x"], out_key="values")
