"""attn: attention mechanisms on a small, fast tensor + autograd core (C++), with PyTorch's names.

    import attn
    x = attn.randn(2, 3, requires_grad=True)
    y = attn.functional.mul(x, x)
    ...

The work happens in the C++ extension ``attn._attn``; the Python files only adapt signatures
(``*size`` arguments, keyword names, defaults) and add conveniences such as printing and
indexing. See docs/python.md.
"""
from . import _attn
from ._attn import (  # noqa: F401
    AttnError,
    Generator,
    Node,
    Tensor,
    allocator_stats,
    bernoulli,
    cpu_capability,
    default_generator,
    dtype,
    empty_cache,
    from_numpy,
    get_num_threads,
    initial_seed,
    is_grad_enabled,
    manual_seed,
    randperm,
    set_num_threads,
    set_use_reference_kernels,
    tensor,
    use_reference_kernels,
)
from ._attn import float32, float64, int64, uint8  # noqa: F401
from ._attn import bool as _bool_dtype

__version__ = _attn.__version__

bool = _bool_dtype  # noqa: A001  (attn.bool, as torch.bool)
float = float32  # noqa: A001
double = float64
long = int64

from . import _tensor  # noqa: E402,F401  (adds repr, indexing, methods to Tensor)


from ._creation import (  # noqa: E402,F401
    arange, as_tensor, empty, empty_like, enable_grad, eye, full, full_like, is_tensor, linspace, no_grad, ones,
    ones_like, rand, randint, randn, set_grad_enabled, zeros, zeros_like,
)

# --- submodules ----------------------------------------------------------------------------------

from . import autograd  # noqa: E402
from . import functional  # noqa: E402
from . import nn  # noqa: E402
from . import optim  # noqa: E402
from . import viz  # noqa: E402
from .autograd import gradcheck  # noqa: E402,F401
from . import io  # noqa: E402
from . import bleu  # noqa: E402
from . import data  # noqa: E402
from . import translator  # noqa: E402
from . import models  # noqa: E402
from . import train  # noqa: E402
from .io import load_file, load_metadata, save_file  # noqa: E402,F401

# torch-style top-level ops (attn.matmul, attn.softmax, ...): everything in attn.functional.
from .functional import *  # noqa: E402,F401,F403
