"""attn.io: safetensors files as dicts of tensors, with the signatures of safetensors.torch,
and versioned checkpoints (attn/io/state_dict.h):

    attn.save_file({"weight": w, "bias": b}, "model.safetensors", metadata={"epoch": "3"})
    tensors = attn.load_file("model.safetensors")      # dict name -> Tensor, in file order
    meta = attn.load_metadata("model.safetensors")     # dict str -> str
    attn.io.save_state_dict(model, "ckpt.safetensors") # model.state_dict(), tagged attn_format=1
    model.load_state_dict(attn.io.load_state_dict("ckpt.safetensors", check_finite=True))

Files written here load in PyTorch with safetensors.torch.load_file (or tools/safetensors_min.py).
"""
import os

from . import _attn
from ._attn import Tensor


def save_file(tensors, filename, metadata=None):
    items = list(tensors.items())
    for name, t in items:
        if not isinstance(t, Tensor):
            raise TypeError(f"save_file: value for {name!r} is {type(t).__name__}, expected attn.Tensor")
    _attn._save_safetensors(os.fspath(filename), items, {str(k): str(v) for k, v in (metadata or {}).items()})


def load_file(filename):
    tensors, _ = _attn._load_safetensors(os.fspath(filename))
    return dict(tensors)


def load_metadata(filename):
    _, metadata = _attn._load_safetensors(os.fspath(filename))
    return dict(metadata)


def save_state_dict(state_dict, filename, metadata=None):
    """Writes a module's state_dict() (pass the module or the dict) as a versioned checkpoint."""
    if hasattr(state_dict, "state_dict"):
        state_dict = state_dict.state_dict()
    _attn._save_state_dict(os.fspath(filename), list(state_dict.items()),
                           {str(k): str(v) for k, v in (metadata or {}).items()})


def load_state_dict(filename, check_finite=False):
    """Reads a checkpoint (or any safetensors file) as a dict; refuses files of a newer format
    version, and with check_finite any NaN / Inf value."""
    tensors, _ = _attn._load_state_dict(os.fspath(filename), bool(check_finite))
    return dict(tensors)
