#!/usr/bin/env python3
"""Generates the PyTorch reference fixtures under tests/fixtures/ (committed, so CI needs no PyTorch).

Run with Debian's python3-torch:
    /usr/bin/python3 tools/gen_fixtures.py            # all families
    /usr/bin/python3 tools/gen_fixtures.py softmax    # one family

Each family is a module tools/fixtures/<family>.py with a function `cases()` yielding
(case_name, {tensor_name: torch.Tensor}, {metadata}) tuples; each case is written to
tests/fixtures/<family>/<case_name>.safetensors. Conventions for tensor names: inputs by their
argument names, `out` for the output, `grad_out` for the upstream gradient, `grad_<input>` for
input gradients. Inputs come from torch.Generator seeds, so re-running reproduces the files.
"""
import importlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from safetensors_min import save  # noqa: E402


def main(argv):
    import torch
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    families = argv or sorted(p.stem for p in (ROOT / "tools" / "fixtures").glob("*.py") if not p.stem.startswith("_"))
    for fam in families:
        mod = importlib.import_module(f"fixtures.{fam}")
        outdir = ROOT / "tests" / "fixtures" / fam
        outdir.mkdir(parents=True, exist_ok=True)
        n = 0
        for name, tensors, meta in mod.cases():
            meta = dict(meta or {})
            meta["generator"] = f"tools/gen_fixtures.py {fam} (torch {torch.__version__})"
            save(outdir / f"{name}.safetensors", tensors, meta)
            n += 1
        print(f"{fam}: {n} fixtures -> {outdir.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
