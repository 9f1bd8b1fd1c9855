"""attn.Tensor from Python: numpy interop (copies and zero-copy sharing), dtypes, views,
indexing, printing, arithmetic against numpy, and error propagation."""
import gc
import weakref

import numpy as np
import pytest

import attn
from conftest import assert_close

# attn dtype <-> numpy dtype, both directions.
DTYPES = [
    (attn.float32, np.float32),
    (attn.float64, np.float64),
    (attn.int64, np.int64),
    (attn.bool, np.bool_),
    (attn.uint8, np.uint8),
]


def sample(np_dtype, shape, rng):
    if np_dtype == np.bool_:
        return rng.random(shape) > 0.5
    if np.issubdtype(np_dtype, np.integer):
        return rng.integers(0, 100, shape).astype(np_dtype)
    return rng.standard_normal(shape).astype(np_dtype)


# --- numpy round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize("dt, np_dt", DTYPES)
def test_tensor_copies_and_round_trips(dt, np_dt, rng):
    a = sample(np_dt, (3, 4), rng)
    t = attn.tensor(a)
    assert t.dtype is dt
    assert t.shape == (3, 4) and t.ndim == 2 and t.numel() == 12
    np.testing.assert_array_equal(t.numpy(), a)
    a.flat[0] = a.flat[1]  # attn.tensor copied: the tensor keeps the old value
    b = sample(np_dt, (3, 4), rng)
    t2 = attn.tensor(b)
    b[...] = 0 if np_dt != np.bool_ else False
    assert t2.numpy().dtype == np_dt
    assert not np.shares_memory(t2.numpy(), b)


@pytest.mark.parametrize("dt, np_dt", DTYPES)
def test_from_numpy_shares_memory_both_ways(dt, np_dt, rng):
    a = sample(np_dt, (2, 5), rng)
    t = attn.from_numpy(a)
    assert t.dtype is dt and t.shape == (2, 5)
    assert t.data_ptr() == a.ctypes.data
    # numpy -> tensor
    a[1, 2] = 1
    assert t[1, 2].item() == 1
    # tensor -> numpy, through a tensor op that writes in place
    t[0].fill_(0)
    assert not a[0].any()
    # numpy() of the shared tensor is the very same memory
    assert np.shares_memory(t.numpy(), a)


def test_from_numpy_strided_views(rng):
    base = rng.standard_normal((6, 8))
    for view in (base[:, ::2], base.T, base[1:5, 3], base[::3, ::-1][:, ::-1], np.broadcast_to(base[0], (3, 8)).copy()):
        if any(s < 0 for s in view.strides):
            continue
        t = attn.from_numpy(view)
        assert t.shape == view.shape
        assert t.stride() == tuple(s // view.itemsize for s in view.strides)
        np.testing.assert_array_equal(t.numpy(), view)
        np.testing.assert_array_equal((t * 2).numpy(), view * 2)
    # writes through a strided tensor land in the right elements of the base array
    t = attn.from_numpy(base[:, ::2])
    t.fill_(7.0)
    assert (base[:, ::2] == 7).all() and not (base[:, 1::2] == 7).any()


def test_from_numpy_keeps_the_array_alive():
    a = np.arange(10, dtype=np.float64)
    ref = weakref.ref(a)
    t = attn.from_numpy(a)
    view = t[2:5]
    del a, t
    gc.collect()
    assert ref() is not None  # the view's storage holds the array
    assert view.tolist() == [2.0, 3.0, 4.0]
    del view
    gc.collect()
    assert ref() is None  # released with the last tensor


def test_numpy_view_keeps_the_tensor_alive():
    t = attn.arange(6, dtype=attn.float32).reshape(2, 3)
    n = t.numpy()
    assert n.base is not None  # a view, not a copy
    n[1, 1] = 42
    assert t[1, 1].item() == 42
    del t
    gc.collect()
    # the storage is owned by the array's base now; reading and writing it is still valid
    n[0, 0] = -1
    assert n.tolist() == [[-1, 1, 2], [3, 42, 5]]


def test_numpy_of_views_and_expanded():
    t = attn.arange(12, dtype=attn.float64).reshape(3, 4)
    np.testing.assert_array_equal(t.T.numpy(), np.arange(12.0).reshape(3, 4).T)
    e = attn.tensor([1.0, 2.0]).unsqueeze(0).expand(3, 2)
    assert e.numpy().strides == (0, 4)
    np.testing.assert_array_equal(e.numpy(), [[1, 2]] * 3)


def test_from_numpy_refuses_what_it_cannot_share():
    with pytest.raises(ValueError, match="negative strides"):
        attn.from_numpy(np.arange(5.0)[::-1])
    with pytest.raises(TypeError, match="int32"):
        attn.from_numpy(np.arange(5, dtype=np.int32))
    ro = np.arange(3.0)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        attn.from_numpy(ro)
    with pytest.raises(TypeError, match="cannot be shared"):
        attn.from_numpy(np.arange(3, dtype=">f8"))
    # attn.tensor converts these by copying instead
    assert attn.tensor(np.arange(5, dtype=np.int32)).dtype is attn.int64
    assert attn.tensor(np.arange(5.0)[::-1]).tolist() == [4, 3, 2, 1, 0]
    assert attn.tensor(np.arange(3, dtype=np.float16)).dtype is attn.float32


def test_numpy_refuses_tensors_that_require_grad():
    x = attn.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    np.testing.assert_array_equal(x.detach().numpy(), [1, 1])
    np.testing.assert_array_equal(np.asarray(x), [1, 1])  # __array__ detaches, as np.asarray(torch_tensor) would not


def test_dtype_inference_of_tensor():
    assert attn.tensor([1.5, 2]).dtype is attn.float32  # Python floats: the default float32
    assert attn.tensor([1, 2]).dtype is attn.int64
    assert attn.tensor([True, False]).dtype is attn.bool
    assert attn.tensor(np.array([1.5])).dtype is attn.float64  # numpy arrays keep their dtype
    assert attn.tensor(3.5).shape == ()  # 0-d stays 0-d
    assert attn.tensor([[1, 2]], dtype=attn.float64).dtype is attn.float64
    assert attn.tensor([1, 2], dtype="float32").dtype is attn.float32
    assert attn.tensor([1, 2], dtype=np.uint8).dtype is attn.uint8
    with pytest.raises(TypeError):
        attn.tensor(["a", "b"])
    with pytest.raises(TypeError, match="int16|no dtype"):
        attn.tensor([1], dtype=np.int16)


def test_dtype_objects():
    assert repr(attn.float32) == "attn.float32"
    assert attn.float32 == attn.float32 and attn.float32 != attn.float64
    assert attn.float64.is_floating_point and not attn.int64.is_floating_point
    assert attn.uint8.itemsize == 1 and attn.float64.itemsize == 8
    assert {attn.float32: 1}[attn.zeros(1).dtype] == 1
    x = attn.ones(2, 2)
    for dt, np_dt in DTYPES:
        y = x.to(dt)
        assert y.dtype is dt and y.numpy().dtype == np_dt
    assert x.double().dtype is attn.float64 and x.long().dtype is attn.int64


# --- factories and properties -----------------------------------------------------------------------

def test_factories():
    assert attn.zeros(2, 3).shape == (2, 3) and attn.zeros((2, 3)).shape == (2, 3)
    assert attn.ones(4, dtype=attn.int64).tolist() == [1, 1, 1, 1]
    assert attn.full((2,), 7).dtype is attn.int64 and attn.full((2,), 0.5).tolist() == [0.5, 0.5]
    assert attn.arange(5).tolist() == [0, 1, 2, 3, 4] and attn.arange(5).dtype is attn.int64
    np.testing.assert_allclose(attn.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    np.testing.assert_array_equal(attn.eye(3).numpy(), np.eye(3))
    np.testing.assert_allclose(attn.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5), rtol=1e-6)
    assert attn.zeros_like(attn.ones(2, dtype=attn.float64)).dtype is attn.float64
    assert attn.randn(3, 4, requires_grad=True).requires_grad


def test_random_is_seeded_and_shaped():
    attn.manual_seed(123)
    a = attn.randn(1000)
    attn.manual_seed(123)
    b = attn.randn(1000)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    # standard normal: a 1000-sample mean is within 4 standard errors of 0
    assert abs(a.numpy().mean()) < 4 / np.sqrt(1000)
    assert 0.8 < a.numpy().std() < 1.2
    u = attn.rand(1000).numpy()
    assert u.min() >= 0 and u.max() < 1
    r = attn.randint(3, 7, (500,)).numpy()
    assert r.min() == 3 and r.max() == 6
    g = attn.Generator(5)
    np.testing.assert_array_equal(attn.randn(4, generator=g).numpy(), attn.randn(4, generator=attn.Generator(5)).numpy())
    assert sorted(attn.randperm(6).tolist()) == list(range(6))


def test_properties_and_conversions():
    t = attn.arange(6, dtype=attn.float32).reshape(2, 3)
    assert t.size() == (2, 3) and t.size(1) == 3 and t.size(-1) == 3
    assert t.stride() == (3, 1) and t.is_contiguous() and not t.T.is_contiguous()
    assert t.dim() == 2 and len(t) == 2 and t.element_size() == 4
    assert t.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert t[1, 2].item() == 5.0 and isinstance(t[1, 2].item(), float)
    assert isinstance(attn.tensor(3).item(), int) and isinstance(attn.tensor(True).item(), bool)
    assert float(t[0, 1]) == 1.0 and int(t[1, 0]) == 3
    assert t.to("cpu").tolist() == t.tolist() and t.cpu().shape == (2, 3)  # device-generic code runs
    assert np.array(t, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    with pytest.raises(RuntimeError, match="one element"):
        t.item()
    assert [r.tolist() for r in t] == [[0, 1, 2], [3, 4, 5]]


# --- views and indexing -------------------------------------------------------------------------------

def test_views_match_numpy(rng):
    a = rng.standard_normal((2, 3, 4)).astype(np.float32)
    t = attn.tensor(a)
    checks = [
        (t.view(6, 4), a.reshape(6, 4)),
        (t.view((4, -1)), a.reshape(4, -1)),
        (t.reshape(-1), a.reshape(-1)),
        (t.transpose(0, 2), a.transpose(2, 1, 0)),
        (t.permute(2, 0, 1), a.transpose(2, 0, 1)),
        (t.unsqueeze(1), a[:, None]),
        (t.unsqueeze(1).squeeze(1), a),
        (t.narrow(2, 1, 2), a[:, :, 1:3]),
        (t.select(1, -1), a[:, -1]),
        (t.flatten(1), a.reshape(2, 12)),
        (t[:, :1].expand(2, 5, 4), np.broadcast_to(a[:, :1], (2, 5, 4))),
        (t.T, a.T),
    ]
    for got, want in checks:
        np.testing.assert_array_equal(got.numpy(), want)
    # views share memory with their base
    v = t.transpose(0, 1)
    assert np.shares_memory(v.numpy(), t.numpy())


@pytest.mark.parametrize("index", [
    0, -1, (1, 2), slice(1, None), slice(None, None, 2), (slice(None), 1), (Ellipsis, 0), (0, Ellipsis, slice(1, 3)),
    (None, 1), (slice(None), None, slice(0, 2)), slice(-2, None), slice(10, 20), (1, slice(3, 1)),
])
def test_getitem_matches_numpy(index, rng):
    a = rng.standard_normal((3, 4, 5))
    t = attn.tensor(a)
    np.testing.assert_array_equal(t[index].numpy(), a[index])


def test_getitem_errors_and_tensor_indices():
    t = attn.arange(12).reshape(3, 4)
    with pytest.raises(IndexError, match="out of bounds"):
        t[3]
    with pytest.raises(IndexError, match="too many"):
        t[0, 0, 0]
    with pytest.raises(TypeError):
        t["a"]
    np.testing.assert_array_equal(t[attn.tensor([2, 0])].numpy(), np.arange(12).reshape(3, 4)[[2, 0]])
    np.testing.assert_array_equal(t[:, [3, 1]].numpy(), np.arange(12).reshape(3, 4)[:, [3, 1]])
    assert [row[0].item() for row in t] == [0, 4, 8]


def test_setitem_writes_through_views():
    a = np.zeros((3, 4), dtype=np.float32)
    t = attn.from_numpy(a)
    t[1] = 5
    t[:, 3] = attn.tensor([1.0, 2.0, 3.0])
    t[0, :2] = attn.tensor([[7.0, 8.0]])[0]
    expected = np.zeros((3, 4), dtype=np.float32)
    expected[1] = 5
    expected[:, 3] = [1, 2, 3]
    expected[0, :2] = [7, 8]
    np.testing.assert_array_equal(a, expected)


def test_setitem_refused_on_tensors_that_require_grad():
    x = attn.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x[0] = 1.0
    with attn.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1, 0, 0]


# --- printing -----------------------------------------------------------------------------------------

def test_repr_like_torch():
    assert repr(attn.tensor([1.0, 2.5])) == "tensor([1.0000, 2.5000])"
    assert repr(attn.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(attn.tensor([[1, 2], [3, 4]])) == "tensor([[1, 2],\n        [3, 4]])"
    assert repr(attn.tensor([True, False])) == "tensor([ True, False])"
    assert repr(attn.tensor(3.5)) == "tensor(3.5000)"
    assert repr(attn.tensor([1.0], dtype=attn.float64)) == "tensor([1.], dtype=attn.float64)"
    assert repr(attn.tensor([1], dtype=attn.uint8)) == "tensor([1], dtype=attn.uint8)"
    assert repr(attn.zeros(0, 3)) == "tensor([], size=(0, 3))"
    assert repr(attn.ones(2, requires_grad=True)) == "tensor([1., 1.], requires_grad=True)"
    assert repr(attn.ones(2, requires_grad=True) * 2) == "tensor([2., 2.], grad_fn=<MulBackward>)"
    big = repr(attn.zeros(100, 100))
    assert "..." in big and len(big) < 1000
    assert f"{attn.tensor(2.5):.1f}" == "2.5"


# --- arithmetic -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("shape_a, shape_b", [((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3)), ((5,), (5,)), ((0, 3), (3,))])
def test_broadcasting_arithmetic_matches_numpy(shape_a, shape_b, rng):
    a = rng.standard_normal(shape_a).astype(np.float32)
    b = (rng.random(shape_b) + 0.5).astype(np.float32)  # away from 0 for division
    ta, tb = attn.tensor(a), attn.tensor(b)
    # float32 arithmetic: one rounding per op, so 1 ulp-level tolerance.
    for got, want in [(ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / tb, a / b), (-ta, -a)]:
        assert_close(got, want, rtol=1e-6, atol=1e-7)


def test_scalars_on_both_sides():
    a = np.array([1.0, -2.0, 4.0], dtype=np.float32)
    t = attn.tensor(a)
    for got, want in [(t + 1, a + 1), (1 + t, 1 + a), (t - 0.5, a - 0.5), (0.5 - t, 0.5 - a), (t * 3, a * 3),
                      (3 * t, 3 * a), (t / 4, a / 4), (4 / t, 4 / a), (t ** 2, a ** 2), (2 ** t, 2 ** a)]:
        assert got.dtype is attn.float32  # a Python number takes the tensor's dtype
        assert_close(got, want, rtol=1e-6)
    i = attn.tensor([1, 2, 3])
    assert (i + 1).dtype is attn.int64 and (i * 0.5).dtype is attn.float32
    assert (i / 2).tolist() == [0.5, 1.0, 1.5]  # true division
    # numpy arrays on either side give tensors (numpy defers to attn.Tensor)
    assert isinstance(np.ones(3, dtype=np.float32) + t, attn.Tensor)
    assert isinstance(t * np.ones(3, dtype=np.float32), attn.Tensor)


def test_type_promotion():
    f32, f64, i64 = attn.ones(2), attn.ones(2, dtype=attn.float64), attn.ones(2, dtype=attn.int64)
    assert (f32 + f64).dtype is attn.float64
    assert (i64 + f32).dtype is attn.float32
    assert (attn.ones(2, dtype=attn.uint8) + i64).dtype is attn.int64


def test_inplace_operators_write_in_place():
    a = np.ones(3, dtype=np.float32)
    t = attn.from_numpy(a)
    t += 1
    t *= attn.tensor([1.0, 2.0, 3.0])
    t -= 0.5
    t /= 2
    np.testing.assert_allclose(a, [0.75, 1.75, 2.75])
    t.add_(1).mul_(2)
    np.testing.assert_allclose(a, [3.5, 5.5, 7.5])
    w = attn.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        w += 1  # a leaf that requires grad cannot change in place while grad mode is on
    with attn.no_grad():
        w -= 0.5  # the optimizer pattern
    assert w.tolist() == [0.5, 0.5] and w.requires_grad


def test_comparisons_and_logical(rng):
    a = rng.standard_normal((3, 4)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    ta, tb = attn.tensor(a), attn.tensor(b)
    for got, want in [(ta < tb, a < b), (ta <= tb, a <= b), (ta > tb, a > b), (ta >= tb, a >= b),
                      (ta == tb, a == b), (ta != tb, a != b), (ta > 0, a > 0), (0 > ta, 0 > a), (ta == ta, a == a)]:
        assert got.dtype is attn.bool
        np.testing.assert_array_equal(got.numpy(), want)
    m1, m2 = ta > 0, tb > 0
    np.testing.assert_array_equal((m1 & m2).numpy(), (a > 0) & (b > 0))
    np.testing.assert_array_equal((m1 | m2).numpy(), (a > 0) | (b > 0))
    np.testing.assert_array_equal((~m1).numpy(), ~(a > 0))
    assert (ta == None) is False  # noqa: E711  (falls back to identity, like torch)
    assert len({ta, tb, ta}) == 2  # tensors hash by identity


# --- errors -----------------------------------------------------------------------------------------------

def test_attn_errors_reach_python_with_their_message():
    assert issubclass(attn.AttnError, RuntimeError)
    with pytest.raises(attn.AttnError) as e:
        attn.ones(2, 3) + attn.ones(3, 2)
    assert "[2, 3]" in str(e.value) and "[3, 2]" in str(e.value) and "broadcast" in str(e.value)
    with pytest.raises(RuntimeError, match=r"shape \[4, 4\] is invalid for input of shape \[2, 3\]"):
        attn.ones(2, 3).view(4, 4)
    with pytest.raises(attn.AttnError, match="dimension 5 out of range"):
        attn.ones(2, 3).transpose(0, 5)
    with pytest.raises(attn.AttnError, match="floating-point"):
        attn.ones(2, dtype=attn.int64).requires_grad_()


def test_cpu_capability_names_the_simd_build():
    # (Its agreement with cpuid and ATTN_CPU_CAPABILITY is tested in C++, tests/kernels/config_test.cc.)
    assert attn.cpu_capability() in ("avx512", "avx2", "sse4", "scalar")


def test_threads_setting():
    attn.set_num_threads(1)
    assert attn.get_num_threads() == 1
    a = attn.randn(64, 64)
    one = (a @ a).numpy()
    attn.set_num_threads(2)
    np.testing.assert_array_equal((a @ a).numpy(), one)
