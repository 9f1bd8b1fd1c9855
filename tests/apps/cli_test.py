#!/usr/bin/env python3
"""End-to-end test of the `attn` command-line tool on a tiny corpus (tests/fixtures/cli/tiny.tsv).

Trains a small model for a few epochs, then exercises translate (arguments, stdin, n-best,
--show-attention), eval, heatmap (SVG and PNG, checked for validity), a Transformer with
SentencePiece subwords (sampling, heatmaps per head and as a grid), every subcommand's --help,
and the error path: a bad input gives a non-zero exit code and exactly one stderr line starting
with 'attn: error:'.

Usage: cli_test.py PATH/TO/attn   (CTest passes $<TARGET_FILE:attn_cli>)
"""
import os
import struct
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "..", "fixtures", "cli", "tiny.tsv")
SUBCOMMANDS = ["train", "translate", "heatmap", "eval", "demo", "tour", "digits", "pretrain", "fill"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def run(attn, args, stdin=None, cwd=None):
    p = subprocess.run([attn] + args, input=stdin, capture_output=True, text=True, cwd=cwd, timeout=120)
    return p.returncode, p.stdout, p.stderr


def expect_ok(attn, args, stdin=None, cwd=None):
    rc, out, err = run(attn, args, stdin, cwd)
    check(rc == 0, f"attn {' '.join(args)} exits 0 (got {rc}; stderr: {err.strip()[-500:]})")
    return out, err


def expect_error(attn, args, what, cwd=None):
    rc, out, err = run(attn, args, cwd=cwd)
    lines = err.strip("\n").split("\n") if err.strip() else []
    check(rc != 0, f"{what}: non-zero exit code (got {rc})")
    check(len(lines) == 1, f"{what}: exactly one stderr line (got {len(lines)}: {err!r})")
    check(bool(lines) and lines[0].startswith("attn: error: "), f"{what}: stderr starts with 'attn: error: ' ({err!r})")
    return err


def png_ok(path):
    """A PNG: signature, IHDR first, IEND last, every chunk's CRC right, pixels that inflate."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    pos, chunks, idat = 8, [], b""
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + body) != crc:
            return False
        chunks.append(kind)
        if kind == b"IDAT":
            idat += body
        pos += 12 + n
    if not chunks or chunks[0] != b"IHDR" or chunks[-1] != b"IEND":
        return False
    w, h = struct.unpack(">II", data[16:24])
    raw = zlib.decompress(idat)
    return w > 0 and h > 0 and len(raw) == h * (1 + 3 * w)  # 8-bit RGB, one filter byte per row


def main():
    attn = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="attn_cli_test_")
    ck = os.path.join(tmp, "ck")

    # --help of the tool and of every subcommand.
    out, _ = expect_ok(attn, ["--help"])
    for sub in SUBCOMMANDS:
        check(sub in out, f"attn --help lists {sub}")
        out_sub, _ = expect_ok(attn, [sub, "--help"])
        check("--threads" in out_sub, f"attn {sub} --help lists --threads")
    out, _ = expect_ok(attn, ["--version"])
    check(out.startswith("attn "), "attn --version prints 'attn <version>'")

    # train: a small model, a few epochs, checkpoints in ck/{best,last}.
    out, err = expect_ok(attn, ["--threads", "1", "train", "--data", TINY, "--split", "0.1,0.1", "--epochs", "8",
                                "--embed-dim", "16", "--hidden-size", "16", "--batch-size", "8", "--lr", "0.01",
                                "--seed", "1", "--out", ck, "--log", os.path.join(tmp, "train.log")])
    for key in ["best BLEU", "test     BLEU", "saved"]:
        check(key in out, f"train summary has '{key}' ({out!r})")
    check("epoch 8" in err, "train reports its epochs on stderr")
    check("\r" not in err, "no progress bar when stderr is not a terminal")
    for d in ["best", "last"]:
        for f in ["config.json", "model.safetensors", "src_vocab.json", "tgt_vocab.json"]:
            check(os.path.isfile(os.path.join(ck, d, f)), f"checkpoint {d}/{f} written")
    check(os.path.getsize(os.path.join(tmp, "train.log")) > 0, "--log file written")

    # --resume continues from ck/last up to --epochs.
    out, err = expect_ok(attn, ["train", "--data", TINY, "--out", ck, "--resume", "--epochs", "9", "-q"])
    check("9 epochs" in out, f"resumed run ends after epoch 9 ({out!r})")

    # word2vec vectors -> --init-src-embeddings (dims must match), per-side normalisation, no epoch limit.
    vec = os.path.join(tmp, "vec.txt")
    expect_ok(attn, ["word2vec", "train", "--data", TINY, "--dim", "16", "--min-count", "1", "--epochs", "1",
                     "--out", vec, "-q"])
    ck3 = os.path.join(tmp, "ck3")
    out, err = expect_ok(attn, ["train", "--data", TINY, "--embed-dim", "16", "--hidden-size", "16", "--epochs", "0",
                                "--max-steps", "3", "--init-src-embeddings", vec, "--freeze-src-embeddings",
                                "--src-normalize", "tutorial", "--tgt-normalize", "clean", "--log-every", "1",
                                "--out", ck3])
    check("source embeddings: " in err and ", frozen" in err, f"train logs the vectors it used ({err!r})")
    check("epoch 1 batch" in err and "epoch 1/" not in err, f"no epoch limit: progress reads 'epoch 1' ({err!r})")
    with open(os.path.join(ck3, "last", "config.json"), encoding="utf-8") as f:
        conf = f.read()
    check('"init_src_embeddings"' in conf and '"tgt_normalize": "clean"' in conf, "config.json keeps the new options")
    expect_error(attn, ["train", "--data", TINY, "--embed-dim", "8", "--epochs", "1", "--init-src-embeddings", vec,
                        "--out", os.path.join(tmp, "ck4"), "-q"], "train with vectors of another dimension")

    # translate: arguments, stdin (one line per line, empty lines kept), n-best, attention grid.
    out, _ = expect_ok(attn, ["translate", ck, "I am cold.", "She is my friend."])
    check(len(out.splitlines()) == 2, f"translate prints one line per sentence ({out!r})")
    out, _ = expect_ok(attn, ["translate", os.path.join(ck, "best")], stdin="I am cold.\n\nHe is tall.\n")
    check(len(out.splitlines()) == 3, f"translate from stdin: one line per input line ({out!r})")
    check(out.splitlines()[1] == "", "an empty input line gives an empty output line")
    out, _ = expect_ok(attn, ["translate", ck, "--beam", "3", "--n-best", "3", "I am cold."])
    lines = out.splitlines()
    check(len(lines) == 3 and all(l.startswith("0 ||| ") for l in lines), f"n-best list in Moses layout ({out!r})")
    out, _ = expect_ok(attn, ["translate", ck, "--show-attention", "I am cold."])
    grid = out.splitlines()
    check(any(("cold" in l and "am" in l) for l in grid), f"grid header has the source tokens ({out!r})")
    check(any(ch in out for ch in "░▒▓█"), "grid uses shaded blocks")
    check(all(len(l) <= 80 for l in grid[1:]), "grid fits in 80 columns")

    # eval: the sacreBLEU line, loss, count.
    out, _ = expect_ok(attn, ["eval", ck, TINY, "--hyps", os.path.join(tmp, "hyps.txt")])
    check(out.startswith("BLEU = "), f"eval prints sacreBLEU's line first ({out!r})")
    check("count 32" in out and "loss " in out, f"eval prints loss and count ({out!r})")
    with open(os.path.join(tmp, "hyps.txt")) as f:
        check(len(f.read().splitlines()) == 32, "--hyps has one line per pair")

    # heatmap: SVG (labels, title) and PNG, by extension.
    svg, png = os.path.join(tmp, "h", "cold.svg"), os.path.join(tmp, "h", "cold.png")
    expect_ok(attn, ["heatmap", ck, "I am cold.", "-o", svg])
    expect_ok(attn, ["heatmap", ck, "I am cold.", "-o", png])
    try:
        root = ET.parse(svg).getroot()
        text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        check(root.tag.endswith("svg"), "SVG root element")
        check("cold" in text and "Bahdanau" in text, f"SVG has token labels and the attention kind ({text!r})")
    except ET.ParseError as e:
        check(False, f"SVG parses as XML ({e})")
    check(png_ok(png), "PNG is valid (chunks, CRCs, pixel data)")

    # pretrain (masked LM on column 1) -> checkpoint -> fill: k predictions per [MASK], best first.
    bert = os.path.join(tmp, "bert")
    out, _ = expect_ok(attn, ["pretrain", "--data", TINY, "--max-steps", "20", "--d-model", "16", "--heads", "2",
                              "--ffn", "32", "--layers", "1", "--batch-size", "8", "--valid-fraction", "0.2",
                              "--out", bert, "-q"])
    check("trained 20 steps" in out and "checkpoint written" in out, f"pretrain summary ({out!r})")
    for f in ["config.json", "model.safetensors", "vocab.json"]:
        check(os.path.isfile(os.path.join(bert, f)), f"pretrain checkpoint {f} written")
    out, _ = expect_ok(attn, ["fill", "-m", bert, "-k", "3", "I am [MASK]."])
    lines = out.splitlines()
    probs = [float(l.split()[1]) for l in lines[1:]]
    check(lines[0] == "i am [MASK] ." and len(probs) == 3, f"fill prints the query and 3 predictions ({out!r})")
    check(probs == sorted(probs, reverse=True) and sum(probs) <= 1.0, f"fill: sorted probabilities ({out!r})")
    out, _ = expect_ok(attn, ["fill", "-m", bert, "-k", "1", "[MASK]", "[MASK] is [MASK]"])
    check(out.splitlines()[0] == "[MASK]" and "[MASK] is [MASK]" in out, f"bracketed arguments kept whole ({out!r})")
    out, _ = expect_ok(attn, ["fill", "-m", bert, "-k", "2"], stdin="[MASK] is [MASK] .\n")
    check(out.count("[MASK] #") == 2, f"fill from stdin: one list per mask ({out!r})")
    expect_error(attn, ["fill", "-m", bert, "no mask"], "fill without [MASK]")
    expect_error(attn, ["fill", "-m", os.path.join(ck, "best"), "[MASK]"], "fill with a translation checkpoint")
    expect_error(attn, ["pretrain", "--data", TINY, "--heads", "3", "--max-steps", "1", "--out", bert], "bad --heads")

    # Transformer with SentencePiece subwords: a few steps, then translate (search and sampling) and
    # heatmaps of one head and of every head.
    ckt = os.path.join(tmp, "ckt")
    out, err = expect_ok(attn, ["train", "--data", TINY, "--model", "transformer", "--d-model", "16", "--nhead", "2",
                                "--encoder-layers", "1", "--decoder-layers", "2", "--ff-dim", "32",
                                "--tokenizer", "spm", "--vocab-size", "60", "--share-embeddings",
                                "--max-steps", "5", "--batch-size", "8", "--out", ckt])
    check("Transformer" in out and "max_steps" in out, f"transformer train summary ({out!r})")
    check("SentencePiece" in err, f"train reports the SentencePiece model ({err!r})")
    with open(os.path.join(ckt, "last", "config.json"), encoding="utf-8") as f:
        conf = f.read()
    check('"model_type": "transformer"' in conf and '"lr_schedule": "noam"' in conf and '"adam_beta2": 0.98' in conf,
          "config.json records the transformer and its training defaults")
    for d in ["best", "last"]:
        check(os.path.isfile(os.path.join(ckt, d, "spm.model")), f"checkpoint {d}/spm.model written")
    out, _ = expect_ok(attn, ["translate", ckt, "I am cold.", "He is tall."])
    check(len(out.splitlines()) == 2, f"transformer translate prints one line per sentence ({out!r})")
    check("\u2581" not in out, f"translations are detokenised ({out!r})")
    s1, _ = expect_ok(attn, ["translate", ckt, "--sample", "--top-k", "5", "--top-p", "0.9", "--temperature", "1.2",
                             "--seed", "3", "I am cold.", "He is tall."])
    s2, _ = expect_ok(attn, ["translate", ckt, "--sample", "--top-k", "5", "--top-p", "0.9", "--temperature", "1.2",
                             "--seed", "3", "I am cold.", "He is tall."])
    check(len(s1.splitlines()) == 2 and s1 == s2, f"--sample with a seed is reproducible ({s1!r} vs {s2!r})")
    out, _ = expect_ok(attn, ["translate", ckt, "--layer", "0", "--head", "1", "--show-attention", "I am cold."])
    check(any(ch in out for ch in "░▒▓█"), "transformer --show-attention draws a grid")
    h1 = os.path.join(tmp, "h", "tf_l0h1.svg")
    out, _ = expect_ok(attn, ["heatmap", ckt, "I am cold.", "--layer", "0", "--head", "1", "-o", h1])
    try:
        root = ET.parse(h1).getroot()
        text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        check("Transformer" in text, f"transformer SVG title names the model ({text!r})")
    except ET.ParseError as e:
        check(False, f"transformer SVG parses as XML ({e})")
    grid_svg, grid_png = os.path.join(tmp, "h", "grid.svg"), os.path.join(tmp, "h", "grid.png")
    out, _ = expect_ok(attn, ["heatmap", ckt, "I am cold.", "--grid", "-o", grid_svg])
    check("2 x 2 panels" in out, f"--grid draws layers x heads ({out!r})")
    try:
        root = ET.parse(grid_svg).getroot()
        text = " ".join(t.text or "" for t in root.iter() if t.tag.endswith("text"))
        check("layer 1" in text and "head 1" in text, f"grid SVG titles its rows and columns ({text!r})")
    except ET.ParseError as e:
        check(False, f"grid SVG parses as XML ({e})")
    out, _ = expect_ok(attn, ["heatmap", ckt, "I am cold.", "--grid", "--layer", "1", "-o", grid_png])
    check("1 x 2 panels" in out, f"--grid --layer draws one layer's heads ({out!r})")
    check(png_ok(grid_png), "grid PNG is valid")
    out, _ = expect_ok(attn, ["eval", ckt, TINY, "--max-pairs", "4"])
    check(out.startswith("BLEU = ") and "count 4" in out, f"transformer eval ({out!r})")
    expect_error(attn, ["heatmap", ckt, "I am cold.", "--layer", "2"], "--layer beyond the decoder layers")
    expect_error(attn, ["heatmap", ck, "I am cold.", "--head", "1"], "--head on an RNN model")
    expect_error(attn, ["translate", ckt, "--sample", "--beam", "2", "hi"], "--sample with --beam")
    expect_error(attn, ["train", "--data", TINY, "--model", "transformer", "--teacher-forcing", "0.5"],
                 "transformer with teacher forcing < 1")
    expect_error(attn, ["train", "--data", TINY, "--model", "transformer", "--share-embeddings"],
                 "--share-embeddings without a joint vocabulary")
    expect_error(attn, ["train", "--data", TINY, "--model", "magic"], "unknown --model")

    # demo --model transformer on the tiny corpus with a one-second budget: the test BLEU line, the
    # translations and, per example, a single heatmap and a layers x heads grid.
    demo = os.path.join(tmp, "demo")
    out, _ = expect_ok(attn, ["--threads", "1", "demo", "--model", "transformer", "--data", TINY, "--time-budget", "1",
                              "--examples", "1", "--beam", "1", "--out", demo])
    check("Transformer" in out and "held-out test set" in out and "BLEU = " in out, f"transformer demo output ({out!r})")
    hm = os.path.join(demo, "en-fr-transformer", "heatmaps")
    names = sorted(os.listdir(hm)) if os.path.isdir(hm) else []
    check(any(n.endswith(".grid.svg") for n in names) and any(n.endswith(".png") for n in names),
          f"transformer demo writes heatmaps and head grids ({names})")
    for n in names:
        if n.endswith(".grid.svg"):
            try:
                ET.parse(os.path.join(hm, n))
            except ET.ParseError as e:
                check(False, f"demo grid SVG {n} parses as XML ({e})")
    expect_error(attn, ["demo", "--model", "magic"], "unknown demo --model")

    # errors: one line, non-zero exit.
    expect_error(attn, ["translate", os.path.join(tmp, "missing"), "hi"], "missing checkpoint")
    expect_error(attn, ["eval", ck, os.path.join(tmp, "missing.tsv")], "missing TSV")
    bad = os.path.join(tmp, "corrupt.tsv")
    with open(bad, "wb") as f:
        f.write(b"no tab here\n\xff\xfe broken\tutf8\n")
    expect_error(attn, ["eval", ck, bad], "corrupt TSV")
    expect_error(attn, ["train", "--data", bad, "--epochs", "1", "--out", os.path.join(tmp, "ck2")], "train on corrupt TSV")
    expect_error(attn, ["translate", ck, "--beam", "0", "hi"], "--beam 0")
    expect_error(attn, ["translate", ck, "--beam", "2", "--n-best", "3", "hi"], "--n-best > --beam")
    expect_error(attn, ["train", "--data", TINY, "--attention", "magic"], "unknown --attention")
    expect_error(attn, ["heatmap", tmp, "hi"], "directory that is not a checkpoint")
    expect_error(attn, ["translate"], "missing CHECKPOINT argument")

    if failures:
        print(f"{len(failures)} check(s) failed", file=sys.stderr)
        return 1
    print("all CLI checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
