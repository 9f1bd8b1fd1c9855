#!/usr/bin/env python3
"""Fails when a file includes a header from a layer above its own.

Layers, lowest first: kernels -> core -> ops -> nn -> optim -> io -> (models, train, data, viz) -> apps, python.
Run: tools/check_layers.py [repo root]
"""
import pathlib
import re
import sys

ORDER = ["kernels", "core", "ops", "nn", "attention", "optim", "io", "models", "data", "train", "viz"]
RANK = {name: i for i, name in enumerate(ORDER)}
INCLUDE = re.compile(r'^\s*#\s*include\s+"(?:attn/)?([a-z_]+)/', re.M)


def layer_of(path: pathlib.Path, root: pathlib.Path):
    rel = path.relative_to(root).parts
    if rel[0] == "include" and len(rel) > 2:
        return rel[2]
    if rel[0] == "src" and len(rel) > 1:
        return rel[1]
    return None


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    errors = []
    for path in sorted(list((root / "include").rglob("*.h")) + list((root / "src").rglob("*.[ch]*"))):
        own = layer_of(path, root)
        if own not in RANK:
            continue
        for m in INCLUDE.finditer(path.read_text(encoding="utf-8", errors="replace")):
            inc = m.group(1)
            if inc in RANK and RANK[inc] > RANK[own]:
                errors.append(f"{path.relative_to(root)}: layer '{own}' includes '{m.group(0).strip()}' from layer '{inc}' above it")
    for e in errors:
        print(e)
    print(f"check_layers: {'FAILED' if errors else 'ok'} ({len(errors)} upward includes)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
