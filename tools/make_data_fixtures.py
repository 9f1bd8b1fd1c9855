#!/usr/bin/env python3
"""Writes tests/fixtures/data/normalize_codepoints.tsv: the classic PyTorch tutorial's
normalizeString applied to "a" + chr(cp) + "b" for every code point in the ranges below, one
line per code point: `<hex code point><TAB><expected>`. tests/data/text_test.cc compares
attn::data::normalize_string against it.

Run: /usr/bin/python3 tools/make_data_fixtures.py   (standard library only: unicodedata, re)

The other two files in tests/fixtures/data/ (eng-fra.small.tsv, eng-fra.small.norm.tsv) are
copies of the shared Tatoeba test split; see data/README.md.
"""
import pathlib
import re
import unicodedata

ROOT = pathlib.Path(__file__).resolve().parent.parent
RANGES = [(0x80, 0x250), (0x300, 0x370), (0x1E00, 0x1F00), (0x2000, 0x2070), (0x2100, 0x2150), (0x3000, 0x3040),
          (0xFE20, 0xFE30), (0xFEFF, 0xFF00), (0xFF01, 0xFF5F)]


def unicode_to_ascii(s):
    return "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")


def normalize_string(s):  # the tutorial's, plus the final strip of its newer versions
    s = unicode_to_ascii(s.lower().strip())
    s = re.sub(r"([.!?])", r" \1", s)
    s = re.sub(r"[^a-zA-Z.!?]+", r" ", s)
    return s.strip()


def main():
    out = ROOT / "tests" / "fixtures" / "data" / "normalize_codepoints.tsv"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{cp:04X}\t{normalize_string('a' + chr(cp) + 'b')}" for lo, hi in RANGES for cp in range(lo, hi)]
    out.write_text("\n".join(lines) + "\n", encoding="ascii")
    print(f"{len(lines)} code points (unicodedata {unicodedata.unidata_version}) -> {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
