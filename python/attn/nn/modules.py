"""The Module classes of attn.nn.

attn.nn.Module *is* the C++ nn::Module (bound in python/csrc/nn.cc). Assigning a Parameter, a
Module or a buffer to an attribute registers it in the C++ registry, so a Python subclass gets
named_parameters(), state_dict(), load_state_dict(), train()/eval(), zero_grad() and to() from
C++ with PyTorch's key order, and C++ layers (Linear, Dropout, ...) can be its children.

Sequential and ModuleList are small Python classes on the same registry (children named "0",
"1", ...), because their children may be Python modules, which the C++ containers cannot call.
"""
from collections import OrderedDict

from .. import _attn
from .._attn import Tensor

_C = _attn.nn
Module = _C.Module


class Parameter(Tensor):
    """A tensor that a Module registers as a parameter when assigned to one of its attributes.

    Parameter(data) is a new leaf sharing data's memory, with requires_grad set (as
    torch.nn.Parameter).
    """

    def __init__(self, data=None, requires_grad=True):
        if data is None:
            data = _attn._empty([0], _attn.float32)
        super().__init__(data.detach())
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self):
        return "Parameter containing:\n" + Tensor.__repr__(self)

    __str__ = __repr__

    @classmethod
    def _wrap(cls, handle):
        """A Parameter object that is the registry's own handle (same tensor, same .grad)."""
        p = cls.__new__(cls)
        Tensor.__init__(p, handle)
        return p


def _module_setattr(self, name, value):
    if isinstance(value, (Parameter, Module)) and not Module._is_constructed(self):
        raise AttributeError(f"cannot assign {type(value).__name__} '{name}' before Module.__init__() call")
    if isinstance(value, Parameter):
        handle = self._register_parameter(name, value, value.requires_grad)
        value = Parameter._wrap(handle)
    elif isinstance(value, Module):
        if self._has_child(name):
            self._replace_module(name, value)
        else:
            self._register_module(name, value)
    object.__setattr__(self, name, value)


def _module_call(self, *args, **kwargs):
    return self.forward(*args, **kwargs)


def _register_buffer(self, name, tensor, persistent=True):
    """Registers `tensor` as a buffer (saved in state_dict unless persistent=False, moved by to())."""
    handle = self._register_buffer(name, tensor, persistent)
    object.__setattr__(self, name, handle)
    return handle


def _register_parameter(self, name, param):
    _module_setattr(self, name, param if isinstance(param, Parameter) else Parameter(param))


def _add_module(self, name, module):
    _module_setattr(self, name, module)


def _forward_missing(self, *args, **kwargs):
    raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required "forward" function')


_cpp_repr = Module.__repr__


def _module_repr(self):
    # Tracebacks print modules whose __init__ failed before super().__init__(): no C++ object yet.
    if not Module._is_constructed(self):
        return f"<{type(self).__name__} (Module.__init__ not called)>"
    return _cpp_repr(self)


Module.__repr__ = _module_repr
Module.__setattr__ = _module_setattr
Module.__call__ = _module_call
Module.register_buffer = _register_buffer
Module.register_parameter = _register_parameter
Module.add_module = _add_module
Module.register_module = _add_module
if not hasattr(Module, "forward"):
    Module.forward = _forward_missing

# The C++ layers (Linear, Embedding, LayerNorm, Dropout, ReLU, GELU, CrossEntropyLoss, ...): every
# Module subclass that python/csrc/nn.cc binds.
_CPP_LAYERS = sorted(n for n in dir(_C) if isinstance(getattr(_C, n), type) and issubclass(getattr(_C, n), Module)
                     and getattr(_C, n) is not Module)
globals().update({n: getattr(_C, n) for n in _CPP_LAYERS})
KVCache = _C.KVCache  # MultiheadAttention.forward_incremental's cache (not a Module)
__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "KVCache", *_CPP_LAYERS]


class Sequential(Module):
    """Applies its modules in order (torch.nn.Sequential); children are named "0", "1", ... or by
    the keys of an OrderedDict."""

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, m in args[0].items():
                setattr(self, name, m)
        else:
            for i, m in enumerate(args):
                setattr(self, str(i), m)

    def forward(self, input):
        for m in self.children():
            input = m(input)
        return input

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self

    def __len__(self):
        return len(self.named_children())

    def __iter__(self):
        return iter(self.children())

    def __getitem__(self, idx):
        children = self.named_children()
        if isinstance(idx, slice):
            return Sequential(OrderedDict(children[idx]))
        return children[idx][1]


class ModuleList(Module):
    """A list of modules registered as children "0", "1", ... (torch.nn.ModuleList)."""

    def __init__(self, modules=None):
        super().__init__()
        for m in modules or []:
            self.append(m)

    def append(self, module):
        setattr(self, str(len(self)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __len__(self):
        return len(self.named_children())

    def __iter__(self):
        return iter(self.children())

    def __getitem__(self, idx):
        children = self.children()
        if isinstance(idx, slice):
            return ModuleList(children[idx])
        return children[idx]

    def forward(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward; iterate over it")
