"""attn.autograd: gradients without touching .grad, and the finite-difference gradient check.

    gx, = attn.autograd.grad(y, [x])
    attn.autograd.gradcheck(f, (x64,))   # True, or raises GradcheckError
"""
from . import _attn
from ._attn import AttnError, Tensor


def _as_list(x):
    if x is None:
        return []
    if isinstance(x, Tensor):
        return [x]
    return list(x)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False):
    """Gradients of `outputs` w.r.t. `inputs` (torch.autograd.grad); returns a tuple.

    create_graph is not supported: attn computes first derivatives only. An input that the
    outputs do not depend on gets a zero gradient (allow_unused is accepted and ignored).
    """
    if create_graph:
        raise NotImplementedError("attn.autograd.grad: create_graph=True is not supported (first derivatives only)")
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    gouts = _as_list(grad_outputs)
    if gouts and len(gouts) != len(outs):
        raise ValueError(f"grad: {len(gouts)} grad_outputs for {len(outs)} outputs")
    gouts = [g if g is not None else _attn._ones(list(o.shape), o.dtype) for g, o in zip(gouts, outs)] if gouts else []
    return tuple(_attn._autograd_grad(outs, ins, gouts, bool(retain_graph)))


class GradcheckError(AttnError):
    """Raised by gradcheck when analytic and numerical gradients differ."""


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=1234):
    """Compares autograd's gradient of func(*inputs) with central differences (float64 inputs).

    Returns True on success; on failure raises GradcheckError (or returns False when
    raise_exception is False). Only inputs with requires_grad are checked.
    """
    ins = _as_list(inputs) if not isinstance(inputs, Tensor) else [inputs]
    ok, message, _, _ = _attn._gradcheck(func, ins, float(eps), float(atol), float(rtol), int(seed))
    if not ok and raise_exception:
        raise GradcheckError(message)
    return ok


# The grad-mode managers are also reachable here, as in torch.autograd.
def __getattr__(name):
    if name in ("no_grad", "enable_grad", "set_grad_enabled"):
        import attn
        return getattr(attn, name)
    raise AttributeError(name)
