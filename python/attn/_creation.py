"""Factories (zeros, randn, arange, ...) and grad-mode context managers of the attn package.

Kept apart from __init__.py, whose namespace shadows builtins (attn.float, attn.bool, attn.sum,
attn.all, ...), as torch's does.
"""
import functools as _functools

from . import _attn
from ._attn import Tensor, float32, int64, tensor
from ._attn import bool as _bool_dtype


# --- factories -----------------------------------------------------------------------------------

def _size(size):
    """zeros(2, 3) and zeros((2, 3)) both mean shape (2, 3)."""
    if len(size) == 1 and not isinstance(size[0], int) and hasattr(size[0], "__len__"):
        return [int(s) for s in size[0]]
    return [int(s) for s in size]


def _finish(t, requires_grad):
    if requires_grad:
        t.requires_grad_(True)
    return t


def empty(*size, dtype=None, requires_grad=False):
    return _finish(_attn._empty(_size(size), dtype or float32), requires_grad)


def zeros(*size, dtype=None, requires_grad=False):
    return _finish(_attn._zeros(_size(size), dtype or float32), requires_grad)


def ones(*size, dtype=None, requires_grad=False):
    return _finish(_attn._ones(_size(size), dtype or float32), requires_grad)


def full(size, fill_value, *, dtype=None, requires_grad=False):
    if dtype is None:  # as torch.full: the dtype follows the fill value
        dtype = _bool_dtype if isinstance(fill_value, bool) else int64 if isinstance(fill_value, int) else float32
    return _finish(_attn._full(_size((size,)), float(fill_value), dtype), requires_grad)


def zeros_like(input, *, dtype=None, requires_grad=False):
    return zeros(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def ones_like(input, *, dtype=None, requires_grad=False):
    return ones(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def empty_like(input, *, dtype=None, requires_grad=False):
    return empty(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def full_like(input, fill_value, *, dtype=None, requires_grad=False):
    return full(input.shape, fill_value, dtype=dtype or input.dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, requires_grad=False):
    """arange(end) or arange(start, end, step); int64 when all arguments are ints, else float32."""
    if end is None:
        start, end = 0, start
    if dtype is None:
        dtype = int64 if all(isinstance(v, int) for v in (start, end, step)) else float32
    return _finish(_attn._arange(float(start), float(end), float(step), dtype), requires_grad)


def linspace(start, end, steps, *, dtype=None, requires_grad=False):
    return _finish(_attn._linspace(float(start), float(end), int(steps), dtype or float32), requires_grad)


def eye(n, m=None, *, dtype=None, requires_grad=False):
    return _finish(_attn._eye(int(n), -1 if m is None else int(m), dtype or float32), requires_grad)


def rand(*size, dtype=None, generator=None, requires_grad=False):
    """Uniform [0, 1) from attn's Philox generator (the same numbers on every machine)."""
    return _finish(_attn._rand(_size(size), dtype or float32, generator), requires_grad)


def randn(*size, dtype=None, generator=None, requires_grad=False):
    """Standard normal from attn's Philox generator (the same numbers on every machine)."""
    return _finish(_attn._randn(_size(size), dtype or float32, generator), requires_grad)


def randint(low, high=None, size=None, *, dtype=None, generator=None):
    """randint(high, size) or randint(low, high, size): integers uniform in [low, high)."""
    if size is None:
        low, high, size = 0, low, high
    return _attn._randint(int(low), int(high), _size((size,)), dtype or int64, generator)


def as_tensor(data, dtype=None):
    """The tensor itself when it already has the dtype; otherwise a copy (torch.as_tensor)."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    return tensor(data, dtype=dtype)


def is_tensor(obj):
    return isinstance(obj, Tensor)


# --- grad mode -----------------------------------------------------------------------------------

class _GradMode:
    """Base of the grad-mode context managers; also usable as decorators."""

    _enabled = True

    def __enter__(self):
        self._prev = _attn.is_grad_enabled()
        _attn._set_grad_enabled(self._enabled)
        return self

    def __exit__(self, *exc):
        _attn._set_grad_enabled(self._prev)
        return False

    def __call__(self, fn):
        @_functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator) that disables autograd recording, as torch.no_grad()."""
    _enabled = False


class enable_grad(_GradMode):
    """Context manager (and decorator) that enables autograd recording, as torch.enable_grad()."""
    _enabled = True


class set_grad_enabled(_GradMode):
    """set_grad_enabled(False) switches recording off now; as a context manager it restores on exit."""

    def __init__(self, mode):
        self._prev = _attn.is_grad_enabled()
        self._enabled = bool(mode)
        _attn._set_grad_enabled(self._enabled)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _attn._set_grad_enabled(self._prev)
        return False
