"""attn.nn.init: parameter initialisers with torch.nn.init's semantics (attn/nn/init.h)."""
from .._attn.nn import init as _init

__all__ = sorted(n for n in dir(_init) if not n.startswith("__"))
globals().update({n: getattr(_init, n) for n in __all__})
