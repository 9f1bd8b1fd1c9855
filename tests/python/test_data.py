"""attn.data: the C++ translation data layer through Python, checked against Python's own
unicodedata-based normalizeString (the tutorial's) and the shared fixtures."""
import re
import unicodedata

import pytest

import attn
from conftest import FIXTURES, ROOT


def normalize_string(s):  # the PyTorch tutorial's, with the final strip
    s = "".join(c for c in unicodedata.normalize("NFD", s.lower().strip()) if unicodedata.category(c) != "Mn")
    s = re.sub(r"([.!?])", r" \1", s)
    return re.sub(r"[^a-zA-Z.!?]+", r" ", s).strip()


def test_normalize_matches_python():
    texts = ["Ça va\u202f?", "J\u2019ai 19 ans.", "Où êtes-vous ?", "Tiếng Việt", "Œuvre « ß »", "Ærø", ""]
    for line in (FIXTURES / "data" / "eng-fra.small.tsv").read_text(encoding="utf-8").splitlines()[:300]:
        texts += line.split("\t")
    for t in texts:
        assert attn.data.normalize_string(t) == normalize_string(t), t


def test_read_filter_and_report(tmp_path):
    p = tmp_path / "c.tsv"
    p.write_bytes("I'm OK.\tÇa va.\r\nbroken\nI ate.\tJ'ai mangé.\n\tx\n".encode())
    pairs, report = attn.data.read_tatoeba(str(p), reverse=True, normalize="tutorial", tutorial_filter=True)
    assert [(q.src, q.tgt) for q in pairs] == [("ca va .", "i m ok .")]
    assert (report.missing_tab, report.empty_side, report.filtered_out, report.crlf_lines) == (1, 1, 1, 1)
    assert report.issues[0][0] == 2 and "TAB" in report.issues[0][1]
    with pytest.raises(attn.AttnError, match="cannot open"):
        attn.data.read_tatoeba(str(tmp_path / "missing.tsv"))
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(attn.AttnError, match="no sentence pairs"):
        attn.data.read_tatoeba(str(tmp_path / "empty.tsv"))


def test_tokenize_vocab_and_batches(tmp_path):
    assert attn.data.tokenize("我有3个iPhone。", "char") == ["我", "有", "3", "个", "iPhone", "。"]
    pairs, _ = attn.data.read_tatoeba(str(ROOT / "data" / "cmn-eng.small.tsv"), max_pairs=200, normalize="tutorial")
    sv = attn.data.Vocab.build([attn.data.tokenize(p.src) for p in pairs])
    tv = attn.data.Vocab.build([attn.data.tokenize(p.tgt, "char") for p in pairs], min_freq=1)
    assert tv.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"] and attn.data.Vocab.EOS == 2
    tv.save(str(tmp_path / "v.json"))
    assert attn.data.Vocab.load(str(tmp_path / "v.json")) == tv
    (tmp_path / "bad.json").write_text('{"format": "attn.vocab"')
    with pytest.raises(attn.AttnError, match="bad.json"):
        attn.data.Vocab.load(str(tmp_path / "bad.json"))
    enc = attn.data.encode_pairs(pairs, sv, tv, "word", "char")
    batches = attn.data.make_batches(enc, 0, max_sentences=16, seed=3)
    assert sorted(i for b in batches for i in b.indices) == list(range(len(pairs)))
    b = batches[0]
    src, tgt_out = b.src.numpy(), b.tgt_out.numpy()
    for r, i in enumerate(b.indices):
        n = len(enc[i][1])
        assert list(tgt_out[r, :n + 1]) == enc[i][1] + [attn.data.Vocab.EOS]
        assert list(src[r, :len(enc[i][0]) + 1]) == enc[i][0] + [attn.data.Vocab.EOS]
    assert b.src_padding_mask.numpy().sum() == src.size - b.src_lens.numpy().sum()
    train, valid, test = attn.data.split_indices(100, valid_fraction=0.1, test_fraction=0.2, seed=5)
    assert (len(train), len(valid), len(test)) == (70, 10, 20)
    assert sorted(train + valid + test) == list(range(100))
