"""attn.functional (also attn.nn.functional): the op families of include/attn/ops/, with
PyTorch's names and keyword arguments. Everything here is bound from C++ (attn._attn.F); this
file only re-exports it and attaches the ops that torch.Tensor has as methods.
"""
from . import _attn
from . import _tensor

_F = _attn.F
__all__ = sorted(name for name in dir(_F) if not name.startswith("_"))
globals().update({name: getattr(_F, name) for name in __all__})

_tensor.attach_methods(_F)
