"""The attention, convolution, pooling, batch-norm and heatmap bindings (python/csrc/attention.cc)
against the committed PyTorch fixtures of tests/fixtures/{sdpa,multihead,conv,pooling,batch_norm}/
(see tools/fixtures/<family>.py for how each case was made).

Tolerances: float64 cases (sdpa, multihead) 1e-10 (same math, different summation order);
float32 cases (conv, pooling, batch_norm) rtol 1e-5 / atol 1e-5 (sums of up to ~100 products
in a different order).
"""
import ast

import numpy as np
import pytest

import attn
from attn import functional as F
from conftest import FIXTURES, assert_close, fixture

F64 = dict(rtol=1e-10, atol=1e-10)
F32 = dict(rtol=1e-5, atol=1e-5)


def meta(family, case):
    return attn.load_metadata(FIXTURES / family / f"{case}.safetensors")


def leaf(t):
    return t.clone().requires_grad_()


# --- scaled_dot_product_attention --------------------------------------------------------------

SDPA_CASES = ["plain", "causal_4x6", "causal_5x3", "bool_mask", "float_mask_scale", "gqa_causal", "batch1_odd"]


@pytest.mark.parametrize("case", SDPA_CASES)
def test_sdpa_fixture(case):
    fx, md = fixture("sdpa", case), meta("sdpa", case)
    q, k, v = leaf(fx["q"]), leaf(fx["k"]), leaf(fx["v"])
    kw = dict(attn_mask=fx.get("attn_mask"), is_causal=md.get("is_causal") == "True",
              enable_gqa=md.get("enable_gqa") == "True")
    if "scale" in md:
        kw["scale"] = float(md["scale"])
    out, w = F.scaled_dot_product_attention(q, k, v, need_weights=True, **kw)
    assert_close(out, fx["out"], **F64, msg="out")
    assert_close(w, fx["weights"], **F64, msg="weights")
    out.backward(fx["grad_out"])
    for name, t in (("q", q), ("k", k), ("v", v)):
        assert_close(t.grad, fx[f"grad_{name}"], **F64, msg=f"grad_{name}")
    # Without need_weights: the output alone, same values; keywords as torch's.
    only = F.scaled_dot_product_attention(fx["q"], fx["k"], fx["v"], **kw)
    assert isinstance(only, attn.Tensor)
    assert_close(only, fx["out"], **F64)


def test_sdpa_bad_shapes_raise():
    with pytest.raises(attn.AttnError):
        F.scaled_dot_product_attention(attn.randn(2, 3, 4), attn.randn(2, 5, 3), attn.randn(2, 5, 3))


def test_masks_and_scores():
    m = F.causal_mask(3, 4)
    assert m.dtype is attn.bool
    np.testing.assert_array_equal(m.numpy(), np.tril(np.ones((3, 4), bool)))
    np.testing.assert_array_equal(F.causal_mask(3, 4, align="bottom_right").numpy(), np.tril(np.ones((3, 4), bool), 1))
    with pytest.raises(ValueError):
        F.causal_mask(2, 2, align="middle")
    s = attn.randn(2, 3, 4, dtype=attn.float64)
    p = F.masked_softmax(s, attn.tensor([2, 4])).numpy()
    ref = np.exp(s.numpy()[0, :, :2])
    np.testing.assert_allclose(p[0, :, :2], ref / ref.sum(-1, keepdims=True), rtol=1e-12)
    assert (p[0, :, 2:] == 0).all()
    np.testing.assert_allclose(p[1].sum(-1), 1.0, rtol=1e-12)
    # mask= with polarity: True masks out == the complement kept.
    keep = F.causal_mask(3, 4)
    a = F.masked_softmax(s, mask=keep, polarity="keep")
    b = F.masked_softmax(s, mask=~keep, polarity="mask")
    assert_close(a, b, rtol=0, atol=0)
    q, k = attn.randn(2, 3, 5, dtype=attn.float64), attn.randn(2, 4, 5, dtype=attn.float64)
    dot = np.einsum("bte,bse->bts", q.numpy(), k.numpy())
    assert_close(F.dot_score(q, k), dot, rtol=1e-12, atol=1e-12)
    assert_close(F.scaled_dot_score(q, k), dot / np.sqrt(5), rtol=1e-12, atol=1e-12)
    assert_close(F.scaled_dot_score(q, k, scale=0.5), dot * 0.5, rtol=1e-12, atol=1e-12)
    qn = q.numpy() / np.linalg.norm(q.numpy(), axis=-1, keepdims=True)
    kn = k.numpy() / np.linalg.norm(k.numpy(), axis=-1, keepdims=True)
    assert_close(F.cosine_score(q, k), np.einsum("bte,bse->bts", qn, kn), rtol=1e-10, atol=1e-12)


# --- MultiheadAttention ------------------------------------------------------------------------

MHA_CASES = ["basic", "batch_first_no_bias_per_head", "kpm_bool_attn_bool", "bias_kv_zero_attn_float_mask",
             "kdim_vdim_mask3d_bool", "mask3d_float_bias_kv", "unbatched_kpm_per_head", "kpm_float",
             "no_weights_zero_attn"]


@pytest.mark.parametrize("case", MHA_CASES)
def test_multihead_fixture(case):
    fx, md = fixture("multihead", case), meta("multihead", case)
    b = lambda key: md[key] == "1"  # noqa: E731
    E, kd, vd = int(md["embed_dim"]), int(md["kdim"]), int(md["vdim"])
    m = attn.nn.MultiheadAttention(E, int(md["num_heads"]), bias=b("bias"), add_bias_kv=b("add_bias_kv"),
                                   add_zero_attn=b("add_zero_attn"), kdim=kd, vdim=vd, batch_first=b("batch_first"),
                                   dtype=attn.float64)
    sd = {k[len("param."):]: v for k, v in fx.items() if k.startswith("param.")}
    r = m.load_state_dict(sd)
    assert not r.missing_keys and not r.unexpected_keys
    q, k, v = leaf(fx["query"]), leaf(fx["key"]), leaf(fx["value"])
    out, w = m(q, k, v, key_padding_mask=fx.get("key_padding_mask"), need_weights=b("need_weights"),
               attn_mask=fx.get("attn_mask"), average_attn_weights=b("average"))
    assert_close(out, fx["out"], **F64, msg="out")
    loss = (out * fx["grad_out"]).sum()
    if b("need_weights"):
        assert_close(w, fx["weights"], **F64, msg="weights")
        loss = loss + (w * fx["grad_weights"]).sum()
    else:
        assert w is None
    loss.backward()
    for name, t in (("query", q), ("key", k), ("value", v)):
        assert_close(t.grad, fx[f"grad_{name}"], **F64, msg=f"grad_{name}")
    for name, p in m.named_parameters():
        assert_close(p.grad, fx[f"grad.param.{name}"], **F64, msg=f"grad of {name}")


def test_multihead_incremental_matches_causal_forward():
    m = attn.nn.MultiheadAttention(8, 2, batch_first=True, dtype=attn.float64)
    x = attn.randn(2, 5, 8, dtype=attn.float64)
    full, _ = m(x, x, x, need_weights=False, is_causal=True)
    cache = attn.nn.KVCache()
    assert len(cache) == 0 and cache.k is None
    steps = []
    for t in range(5):
        y, w = m.forward_incremental(x[:, t:t + 1], cache)
        assert w is None
        steps.append(y)
    assert len(cache) == 5 and list(cache.k.shape) == [2, 2, 5, 4]
    assert_close(attn.cat(steps, 1), full, rtol=1e-12, atol=1e-12)
    _, w = m.forward_incremental(x[:, :1], cache, need_weights=True)
    assert list(w.shape) == [2, 1, 6]
    cache.clear()
    assert len(cache) == 0


def test_multihead_attributes():
    m = attn.nn.MultiheadAttention(6, 3, kdim=5, vdim=7, num_kv_heads=None)
    assert (m.embed_dim, m.num_heads, m.head_dim, m.kdim, m.vdim) == (6, 3, 2, 5, 7)
    assert m.in_proj_weight is None and list(m.k_proj_weight.shape) == [6, 5]
    assert [n for n, _ in m.named_parameters()] == ["q_proj_weight", "k_proj_weight", "v_proj_weight",
                                                    "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert isinstance(m.out_proj, attn.nn.Linear)


# --- conv / pooling / batch_norm -----------------------------------------------------------------

CONV_CASES = ["conv1d_basic", "conv1d_eca_k5", "conv1d_stride_dil_groups", "conv2d_basic_3x3", "conv2d_depthwise",
              "conv2d_dilation2", "conv2d_groups2", "conv2d_kernel7_cbam", "conv2d_odd_mixed", "conv2d_one_by_one",
              "conv2d_pad_stride2"]


def _check_grads(fx, tensors, tol):
    for name, t in tensors.items():
        if f"grad_{name}" in fx:
            assert_close(t.grad, fx[f"grad_{name}"], **tol, msg=f"grad_{name}")


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_fixture(case):
    fx, md = fixture("conv", case), meta("conv", case)
    ins = {n: leaf(fx[n]) for n in ("x", "weight", "bias") if n in fx}
    op = F.conv1d if case.startswith("conv1d") else F.conv2d
    kw = {key: ast.literal_eval(md[key]) for key in ("stride", "padding", "dilation", "groups")}
    out = op(ins["x"], ins["weight"], ins.get("bias"), **kw)
    assert_close(out, fx["out"], **F32, msg="out")
    out.backward(fx["grad_out"])
    _check_grads(fx, ins, F32)


@pytest.mark.parametrize("case", ["module_conv1d", "module_conv2d"])
def test_conv_module_fixture(case):
    fx, md = fixture("conv", case), meta("conv", case)
    m = eval("attn.nn." + md["module"])  # torch's repr, e.g. Conv2d(4, 6, kernel_size=(3, 3), ...)
    m.load_state_dict({k: fx[k] for k in ("weight", "bias") if k in fx})
    x = leaf(fx["x"])
    out = m(x)
    assert_close(out, fx["out"], **F32, msg="out")
    out.backward(fx["grad_out"])
    assert_close(x.grad, fx["grad_x"], **F32)
    assert_close(m.weight.grad, fx["grad_weight"], **F32)


POOL_CASES = {
    "adaptive_avg_global": lambda x, md: F.adaptive_avg_pool2d(x, 1),
    "adaptive_avg_5x3": lambda x, md: F.adaptive_avg_pool2d(x, (5, 3)),
    "adaptive_avg_up": lambda x, md: F.adaptive_avg_pool2d(x, (5, 6)),
    "adaptive_max_global": lambda x, md: F.adaptive_max_pool2d(x, 1, return_indices=True),
    "adaptive_max_3x4": lambda x, md: F.adaptive_max_pool2d(x, (3, 4), return_indices=True),
    "avg_k3_s2_p1": lambda x, md: F.avg_pool2d(x, 3, 2, 1),
    "avg_k2x3_nopad_count": lambda x, md: F.avg_pool2d(x, (2, 3), (1, 2), (1, 1), count_include_pad=False),
    "max_k3_s2_p1": lambda x, md: F.max_pool2d(x, 3, 2, 1, return_indices=True),
    "max_k2_default_stride": lambda x, md: F.max_pool2d(x, 2, return_indices=True),
    "max_dilated": lambda x, md: F.max_pool2d(x, (3, 2), (2, 1), (1, 1), (2, 3), return_indices=True),
    "adaptive_avg_1d": lambda x, md: F.adaptive_avg_pool1d(x, 4),
}


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pooling_fixture(case):
    fx = fixture("pooling", case)
    x = leaf(fx["x"])
    out = POOL_CASES[case](x, meta("pooling", case))
    if isinstance(out, tuple):
        out, idx = out
        np.testing.assert_array_equal(idx.numpy(), fx["indices"].numpy())
    assert_close(out, fx["out"], **F32, msg="out")
    out.backward(fx["grad_out"])
    assert_close(x.grad, fx["grad_x"], **F32, msg="grad_x")


@pytest.mark.parametrize("case", ["train_2d", "train_1d_bc", "train_1d_bcl", "train_no_stats", "eval_2d"])
def test_batch_norm_fixture(case):
    fx, md = fixture("batch_norm", case), meta("batch_norm", case)
    ins = {n: leaf(fx[n]) for n in ("x", "weight", "bias") if n in fx}
    rm = fx["running_mean"].clone() if "running_mean" in fx else None
    rv = fx["running_var"].clone() if "running_var" in fx else None
    out = F.batch_norm(ins["x"], rm, rv, ins.get("weight"), ins.get("bias"), training=md["training"] == "1",
                       momentum=float(md["momentum"]), eps=float(md["eps"]))
    assert_close(out, fx["out"], **F32, msg="out")
    if "new_running_mean" in fx:  # updated in place, as torch
        assert_close(rm, fx["new_running_mean"], **F32, msg="running_mean")
        assert_close(rv, fx["new_running_var"], **F32, msg="running_var")
    out.backward(fx["grad_out"])
    _check_grads(fx, ins, F32)


@pytest.mark.parametrize("case", ["module_bn1d", "module_bn2d"])
def test_batchnorm_module_fixture(case):
    fx, md = fixture("batch_norm", case), meta("batch_norm", case)
    m = eval("attn.nn." + md["module"])
    state = {k: v for k, v in fx.items() if k in dict(m.state_dict())}
    m.load_state_dict(state)
    out = m(fx["x"])
    assert_close(out, fx["out"], **F32, msg="out")


def test_pool_bad_kernel_raises():
    with pytest.raises(ValueError):
        F.max_pool2d(attn.randn(1, 1, 4, 4), (1, 2, 3))


# --- viz -----------------------------------------------------------------------------------------

def test_heatmap_svg_png(tmp_path):
    w = F.softmax(attn.randn(3, 4), -1)
    svg = tmp_path / "w.svg"
    attn.viz.write_heatmap_svg(svg, w, title="My Title", row_labels=["q0", "q1", "q2"],
                               col_labels=["kA", "kB", "kC", "kD"], cmap="Reds")
    text = svg.read_text()
    for label in ("My Title", "q2", "kA", "kD", "Keys", "Queries"):
        assert label in text
    png = tmp_path / "w.png"
    attn.viz.write_heatmap_png(str(png), w, cell_size=4, colorbar=False)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    grid = tmp_path / "g.svg"
    attn.viz.write_heatmap_grid_svg(grid, F.softmax(attn.randn(2, 2, 3, 4), -1), row_titles=["Layer 1", "Layer 2"],
                                    col_titles=["Head 1", "Head 2"])
    assert "Layer 2" in grid.read_text() and "Head 1" in grid.read_text()
    attn.viz.write_heatmap_grid_png(tmp_path / "g.png", F.softmax(attn.randn(2, 2, 3, 4), -1))
    assert (tmp_path / "g.png").stat().st_size > 0
    with pytest.raises(ValueError):
        attn.viz.write_heatmap_svg(svg, w, cmap="jet")
    with pytest.raises(attn.AttnError):
        attn.viz.write_heatmap_svg(svg, w, row_labels=["only one"])


POOL_MODULES = {
    "adaptive_avg_5x3": lambda: attn.nn.AdaptiveAvgPool2d((5, 3)),
    "adaptive_max_3x4": lambda: attn.nn.AdaptiveMaxPool2d((3, 4)),
    "adaptive_avg_1d": lambda: attn.nn.AdaptiveAvgPool1d(4),
    "max_dilated": lambda: attn.nn.MaxPool2d((3, 2), (2, 1), (1, 1), (2, 3)),
    "max_k2_default_stride": lambda: attn.nn.MaxPool2d(2),
    "avg_k2x3_nopad_count": lambda: attn.nn.AvgPool2d((2, 3), (1, 2), (1, 1), count_include_pad=False),
}


@pytest.mark.parametrize("case", sorted(POOL_MODULES))
def test_pooling_module_fixture(case):
    fx = fixture("pooling", case)
    assert_close(POOL_MODULES[case]()(fx["x"]), fx["out"], **F32)


def test_conv_bad_shapes_raise():
    with pytest.raises(attn.AttnError, match=r"\[2, 3, 8, 8\].*\[4, 5, 3, 3\]|\[4, 5, 3, 3\].*\[2, 3, 8, 8\]"):
        F.conv2d(attn.randn(2, 3, 8, 8), attn.randn(4, 5, 3, 3))
    with pytest.raises(ValueError):
        F.conv2d(attn.randn(2, 3, 8, 8), attn.randn(4, 3, 3, 3), stride=(1, 2, 3))
