"""A tiny safetensors reader/writer for numpy and torch (Debian ships no `safetensors` package).

    from safetensors_min import save, load
    save("x.safetensors", {"w": numpy_or_torch_tensor}, metadata={"k": "v"})
    tensors, metadata = load("x.safetensors")          # numpy arrays
    tensors, metadata = load("x.safetensors", torch=True)  # torch tensors

Format: 8-byte little-endian header length, JSON header, raw little-endian data.
"""
import json
import struct

import numpy as np

_NP = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "BOOL": np.bool_, "U8": np.uint8,
       "F16": np.float16, "I32": np.int32}
_CODE = {np.dtype(v).str: k for k, v in _NP.items()}


def _to_numpy(t):
    if hasattr(t, "detach"):  # torch.Tensor
        t = t.detach().cpu().contiguous().numpy()
    return np.ascontiguousarray(t)


def save(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        a = _to_numpy(t)
        code = _CODE.get(a.dtype.newbyteorder("<").str if a.dtype.byteorder == ">" else a.dtype.str)
        if code is None:
            raise ValueError(f"{name}: unsupported dtype {a.dtype}")
        b = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path, torch=False):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        a = np.frombuffer(data[base + b:base + e], dtype=np.dtype(_NP[info["dtype"]]).newbyteorder("<"))
        a = a.reshape(info["shape"]).copy()
        if torch:
            import torch as _torch
            a = _torch.from_numpy(a)
        out[name] = a
    return out, meta
