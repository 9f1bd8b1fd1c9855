#!/usr/bin/env python3
"""safetensors round trip between attn and PyTorch.

    /usr/bin/python3 tools/torch_roundtrip.py
        Self-check: torch writes the reference tensors, reads them back, checks every bit.
    /usr/bin/python3 tools/torch_roundtrip.py make-fixture
        (Re)writes tests/fixtures/io/torch_written.safetensors: the reference tensors written by
        torch through tools/safetensors_min.py (read by tests/io/roundtrip_test.cc).
    /usr/bin/python3 tools/torch_roundtrip.py check FILE [--write-back OUT]
        Loads FILE (e.g. written by attn) into torch tensors. Tensors named like the reference set
        are compared with the reference values bit for bit (NaN payloads and -0.0 included); the
        file is also compared byte for byte with what torch + safetensors_min would write for the
        same tensors and metadata. With --write-back, torch writes the tensors to OUT, which is read
        back and checked bit for bit. Exit status 0 only when every check passed; 77 when this
        python has no torch.

The reference set has one tensor per dtype attn and torch share (float32, float64, int64, bool,
uint8), with the values that break naive serialisers: -0.0, NaN, +-inf, subnormals, the extreme
finite values, INT64_MIN/MAX, all 256 bytes; plus a 0-d and an empty tensor. tests/io/roundtrip_test.cc
builds the same values in C++; keep the two in sync.
"""
import argparse
import math
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from safetensors_min import load, save  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "io" / "torch_written.safetensors"


def reference_tensors():
    """Name -> torch tensor, in file order (deliberately not alphabetical)."""
    import torch
    f32 = torch.tensor([0.0, -0.0, 1.0, -1.5, 0.1, 2.0 ** -149, 3.4028234663852886e38, math.inf,
                        -math.inf, math.nan, 2.0 ** -126, 123456.789], dtype=torch.float32).reshape(3, 4)
    f64 = torch.tensor([0.0, -0.0, 0.1, -2.5e-308, 5e-324, 1.7976931348623157e308, math.inf, -math.inf,
                        math.nan, math.pi], dtype=torch.float64).reshape(2, 5)
    i64 = torch.tensor([-2 ** 63, -1, 0, 1, 2 ** 63 - 1, 1234567890123], dtype=torch.int64)
    b = torch.tensor([True, False, False, True, True], dtype=torch.bool)
    u8 = torch.arange(256, dtype=torch.int64).to(torch.uint8).reshape(16, 16)
    ramp = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) * 0.5
    return {
        "weights.f32": f32,
        "weights.f64": f64,
        "ids.i64": i64,
        "mask.bool": b,
        "bytes.u8": u8,
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "ramp": ramp,
    }


def bits(t):
    """The raw bytes of a tensor, for bitwise comparison (NaN == NaN, -0.0 != 0.0)."""
    return t.contiguous().numpy().tobytes()


def same(a, b):
    return a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape) and bits(a) == bits(b)


def check_against_reference(tensors):
    ref = reference_tensors()
    failures = 0
    for name, expected in ref.items():
        if name not in tensors:
            continue
        got = tensors[name]
        if same(got, expected):
            print(f"  {name}: {str(got.dtype).replace('torch.', '')}{list(got.shape)} bit-exact")
        else:
            failures += 1
            print(f"  {name}: MISMATCH: got {got.dtype}{list(got.shape)} {got.flatten()[:8].tolist()}, "
                  f"expected {expected.dtype}{list(expected.shape)} {expected.flatten()[:8].tolist()}")
    return failures


def cmd_check(path, write_back):
    import torch
    data = pathlib.Path(path).read_bytes()
    tensors, meta = load(path, torch=True)
    print(f"{path}: {len(tensors)} tensors, metadata {meta}")
    failures = check_against_reference(tensors)
    others = [n for n in tensors if n not in reference_tensors()]
    for n in others:
        t = tensors[n]
        print(f"  {n}: {str(t.dtype).replace('torch.', '')}{list(t.shape)} loaded")
    # Would torch (via safetensors_min) have written exactly these bytes?
    with tempfile.TemporaryDirectory() as tmp:
        again = pathlib.Path(tmp) / "again.safetensors"
        save(again, tensors, dict(sorted(meta.items())))
        if again.read_bytes() == data:
            print("  file is byte-identical to torch + safetensors_min's serialisation")
        else:
            print("  file differs in bytes from torch + safetensors_min's serialisation (values checked above)")
    if write_back:
        save(write_back, tensors, meta)
        back, back_meta = load(write_back, torch=True)
        for n, t in tensors.items():
            if not same(back[n], t):
                failures += 1
                print(f"  {n}: write-back changed the tensor")
        if back_meta != meta:
            failures += 1
            print("  write-back changed the metadata")
        print(f"  wrote {write_back} with torch ({len(back)} tensors re-read bit-exact)")
    print("OK" if failures == 0 else f"FAILED ({failures} problems)")
    return 0 if failures == 0 else 1


def cmd_make_fixture():
    import torch
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    save(FIXTURE, reference_tensors(), {"generator": f"tools/torch_roundtrip.py make-fixture (torch {torch.__version__})"})
    print(f"wrote {FIXTURE.relative_to(ROOT)} ({FIXTURE.stat().st_size} bytes)")
    return cmd_check(FIXTURE, None)


def cmd_self_check():
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "self.safetensors"
        save(path, reference_tensors(), {"generator": "tools/torch_roundtrip.py self-check"})
        return cmd_check(path, pathlib.Path(tmp) / "back.safetensors")


EXIT_NO_TORCH = 77  # "skipped" for test drivers: this python has no torch


def main(argv):
    try:
        import torch  # noqa: F401
    except ImportError:
        print(f"{sys.executable} has no torch (install python3-torch)", file=sys.stderr)
        return EXIT_NO_TORCH
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    sub.add_parser("make-fixture", help="rewrite tests/fixtures/io/torch_written.safetensors")
    c = sub.add_parser("check", help="load a safetensors file (e.g. written by attn) into torch and verify it")
    c.add_argument("file")
    c.add_argument("--write-back", metavar="OUT", help="write the tensors back with torch to OUT")
    args = ap.parse_args(argv)
    if args.cmd == "make-fixture":
        return cmd_make_fixture()
    if args.cmd == "check":
        return cmd_check(args.file, args.write_back)
    return cmd_self_check()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
