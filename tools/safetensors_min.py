"""A tiny safetensors reader/writer for numpy and torch (Debian ships no `safetensors` package).

    from safetensors_min import save, load
    save("x.safetensors", {"w": numpy_or_torch_tensor}, metadata={"k": "v"})
    tensors, metadata = load("x.safetensors")          # numpy arrays
    tensors, metadata = load("x.safetensors", torch=True)  # torch tensors

Format: 8-byte little-endian header length, JSON header, raw little-endian data. The writer emits
__metadata__ first, then the tensors in the given order, as compact JSON (json.dumps with
separators=(",", ":")) padded with spaces to 8 bytes: attn's writer (src/io/safetensors.cc)
produces the same bytes for the same tensors and metadata (metadata keys sorted, as attn keeps
them). The reader checks what it relies on (dtype known, offsets inside the file, sizes matching
the shape) and raises ValueError naming the file and tensor otherwise; attn's reader is the strict
one.
"""
import json
import os
import struct

import numpy as np

_NP = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "BOOL": np.bool_, "U8": np.uint8,
       "F16": np.float16, "I32": np.int32}
_CODE = {np.dtype(v).str: k for k, v in _NP.items()}


def _to_numpy(t):
    if hasattr(t, "detach"):  # torch.Tensor
        t = t.detach().cpu().contiguous().numpy()
    a = np.asarray(t)
    # np.ascontiguousarray would turn a 0-d array into shape (1,); keep 0-d tensors 0-d.
    return a if a.flags["C_CONTIGUOUS"] else a.copy(order="C")


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
    # Atomic, like attn's writer: a reader never sees a half-written file.
    tmp = f"{path}.tmp.{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(struct.pack("<Q", len(h)))
            f.write(h)
            for b in blobs:
                f.write(b)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path, torch=False):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short ({len(data)} bytes) for a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, info in header.items():
        if info.get("dtype") not in _NP:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {info.get('dtype')!r}")
        dt = np.dtype(_NP[info["dtype"]]).newbyteorder("<")
        b, e = info["data_offsets"]
        shape = [int(s) for s in info["shape"]]
        if not (0 <= b <= e <= len(data) - base) or e - b != int(np.prod(shape, dtype=np.int64)) * dt.itemsize:
            raise ValueError(f"{path}: tensor {name!r}: data_offsets {[b, e]} do not fit shape {shape} of "
                             f"{info['dtype']} in a data section of {len(data) - base} bytes")
        a = np.frombuffer(data[base + b:base + e], dtype=dt).reshape(shape).copy()
        if torch:
            import torch as _torch
            a = _torch.from_numpy(a)
        out[name] = a
    return out, meta
