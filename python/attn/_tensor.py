"""Python-side parts of attn.Tensor: printing like torch, indexing, iteration, and the op methods.

Indexing composes the C++ views (select, slice, unsqueeze), so results share memory with the
tensor and carry autograd history exactly as those views do. Methods such as ``t.sum(dim=1)``
are the functions of attn.functional, attached here once their C++ op is bound.
"""
import numpy as np

from . import _attn

Tensor = _attn.Tensor
AttnError = _attn.AttnError

# dtypes PyTorch leaves out of the repr (its defaults and bool).
_IMPLICIT_DTYPES = ("float32", "int64", "bool")


def _format_values(arr):
    """torch-like value text: 4 decimals, '1.' for integral floats, indentation under 'tensor('."""
    opts = dict(separator=", ", prefix="tensor(", threshold=1000, edgeitems=3, max_line_width=80)
    if arr.dtype.kind == "f":
        finite = arr[np.isfinite(arr)]
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        big = finite.size and (np.abs(finite).max() >= 1e8 or (np.abs(finite[finite != 0]).min(initial=1) < 1e-4))
        if integral and not big:
            opts.update(precision=0, floatmode="fixed")
        elif not big:
            opts.update(precision=4, floatmode="fixed", suppress_small=True)
        else:
            opts.update(precision=4, floatmode="fixed")
    return np.array2string(arr, **opts)


def _repr(self):
    arr = self.detach().numpy()
    if self.numel() == 0:
        body = "[]" + ("" if self.ndim == 1 else ", size=" + str(tuple(self.shape)))
    else:
        body = _format_values(arr)
    extras = []
    if self.dtype.name not in _IMPLICIT_DTYPES:
        extras.append("dtype=attn." + self.dtype.name)
    if self.grad_fn is not None:
        extras.append("grad_fn=" + repr(self.grad_fn))
    elif self.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


# --- indexing --------------------------------------------------------------------------------------

def _normalize_index(index):
    if not isinstance(index, tuple):
        index = (index,)
    return index


def _expand_ellipsis(index, ndim):
    """Replaces ... by the right number of full slices; counts None as taking no input dim."""
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    n_ell = sum(1 for i in index if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if used > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    out = []
    for i in index:
        if i is Ellipsis:
            out.extend([slice(None)] * (ndim - used))
        else:
            out.append(i)
    return out


def _getitem(self, index):
    if isinstance(index, Tensor) or isinstance(index, (list, np.ndarray)):
        return _tensor_index(self, 0, index)
    index = _expand_ellipsis(_normalize_index(index), self.ndim)
    t = self
    dim = 0  # the dim of `t` the next index applies to
    for i in index:
        if i is None:
            t = t.unsqueeze(dim)
            dim += 1
        elif isinstance(i, slice):
            start, stop, step = i.indices(t.shape[dim])
            if step <= 0:
                raise ValueError("step must be greater than zero")
            t = t._slice(dim, start, max(stop, start), step)
            dim += 1
        elif isinstance(i, (Tensor, list, np.ndarray)):
            t = _tensor_index(t, dim, i)
            dim += 1
        else:
            try:
                k = i.__index__()
            except AttributeError:
                raise TypeError(f"attn.Tensor indices must be ints, slices, None, ..., or tensors, not {type(i).__name__}") from None
            n = t.shape[dim]
            if not -n <= k < n:
                raise IndexError(f"index {k} is out of bounds for dimension {dim} with size {n}")
            t = t.select(dim, k)
    return t


def _tensor_index(t, dim, index):
    """t[..., idx, ...] with an integer tensor (index_select) or a boolean mask (masked_select)."""
    from . import functional as F
    if not isinstance(index, Tensor):
        index = _attn.tensor(index)
    if index.dtype == _attn.bool:
        if dim == 0 and index.shape == t.shape and hasattr(F, "masked_select"):
            return F.masked_select(t, index)
        raise IndexError("boolean-mask indexing needs a mask with the tensor's full shape (and attn.masked_select)")
    if not hasattr(F, "index_select"):
        raise IndexError("indexing with a tensor needs attn.index_select, which this build does not have")
    if index.ndim == 0:
        return t.select(dim, int(index.item()))
    if index.ndim != 1:
        flat = F.index_select(t, dim, index.reshape(-1))
        return flat.reshape(*t.shape[:dim], *index.shape, *t.shape[dim + 1:])
    return F.index_select(t, dim, index)


def _setitem(self, index, value):
    view = _getitem(self, index)
    if not view._shares_memory_with(self):
        raise IndexError("assignment through a tensor index is not supported (it would write into a copy)")
    if isinstance(value, (int, float, bool, np.number)):
        view.fill_(float(value))
    else:
        view.copy_(value)


def _shares_memory_with(self, other):
    # Views of one storage: compare the storage base address range, conservatively by data_ptr span.
    return self._storage_id() == other._storage_id()


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(self.shape[0]):
        yield self.select(0, i)


def _format(self, spec):
    if self.ndim == 0:
        return format(self.item(), spec)
    return object.__format__(self, spec)


Tensor.__repr__ = _repr
Tensor.__str__ = _repr
Tensor.__getitem__ = _getitem
Tensor.__setitem__ = _setitem
Tensor.__iter__ = _iter
Tensor.__format__ = _format
Tensor._shares_memory_with = _shares_memory_with


def attach_methods(functional):
    """Makes t.name(...) call functional.name(t, ...) for the ops that PyTorch also has as methods."""
    for name in _METHODS:
        fn = getattr(functional, name, None)
        if fn is not None and not hasattr(Tensor, name):
            setattr(Tensor, name, _make_method(fn))
    inplace_ok = {"add": "add_", "sub": "sub_", "mul": "mul_", "div": "div_"}
    for name, inplace in inplace_ok.items():
        fn = getattr(functional, name, None)
        if fn is not None and not hasattr(Tensor, inplace):
            setattr(Tensor, inplace, _make_inplace(fn))


def _make_method(fn):
    # C++ functions are builtins, which do not bind `self` as class attributes; a Python
    # function does.
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    method.__name__ = fn.__name__
    method.__doc__ = fn.__doc__
    return method


def _make_inplace(fn):
    def method(self, *args, **kwargs):
        return self.copy_(fn(self, *args, **kwargs))
    method.__name__ = fn.__name__ + "_"
    return method


# Op names that torch.Tensor has as methods; attached when attn.functional has them.
_METHODS = [
    "add", "sub", "mul", "div", "neg",
    "abs", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "sin", "cos", "tanh", "sigmoid", "relu", "pow",
    "square", "sign", "floor", "ceil", "round", "trunc", "reciprocal", "clamp", "clip", "maximum", "minimum",
    "erf", "logical_not", "logical_and", "logical_or", "isnan", "isinf", "isfinite", "nan_to_num",
    "eq", "ne", "lt", "le", "gt", "ge", "equal", "allclose", "isclose", "where", "masked_fill",
    "sum", "mean", "var", "std", "prod", "max", "min", "amax", "amin", "argmax", "argmin", "logsumexp",
    "norm", "all", "any", "cumsum", "cumprod",
    "softmax", "log_softmax",
    "matmul", "mm", "bmm",
    "cat", "split", "chunk", "repeat", "tile", "flip", "roll", "tril", "triu", "unbind", "movedim",
    "repeat_interleave", "diagonal",
    "index_select", "gather", "scatter", "scatter_add", "masked_select", "take_along_dim",
    "sort", "argsort", "topk",
]
