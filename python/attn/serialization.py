"""safetensors files as dicts of tensors, with the signatures of safetensors.torch:

    attn.save_file({"weight": w, "bias": b}, "model.safetensors", metadata={"epoch": "3"})
    tensors = attn.load_file("model.safetensors")      # dict name -> Tensor, in file order
    meta = attn.load_metadata("model.safetensors")     # dict str -> str

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
