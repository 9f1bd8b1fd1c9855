"""attn.data.SentencePiece: training, exact round trips, save/load, the Vocab over the pieces and
the errors, through Python (the C++ suite, tests/data/subword_test.cc, covers the details)."""
import pytest

import attn
from conftest import ROOT


@pytest.fixture(scope="module")
def sentences():
    lines = (ROOT / "data" / "eng-fra.tutorial.tsv").read_text(encoding="utf-8").splitlines()[:1000]
    return [c for line in lines for c in line.split("\t")[:2]]


@pytest.mark.parametrize("model_type", ["unigram", "bpe"])
def test_train_round_trip_and_vocab(sentences, model_type, tmp_path):
    spm = attn.data.SentencePiece.train(sentences, vocab_size=400, model_type=model_type, normalization="identity")
    assert len(spm) == spm.vocab_size == 400
    assert spm.pieces[0] == "<unk>"
    for s in sentences:
        assert spm.decode(spm.encode(s)) == s
    assert len(spm.encode("anticonstitutionnellement")) > 2

    vocab = attn.data.vocab_for(spm)
    assert vocab.tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocab.tokens[4:] == spm.pieces[1:]
    ids = vocab.encode(spm.encode(sentences[3]), add_bos=True, add_eos=True)
    assert attn.data.Vocab.UNK not in ids
    assert spm.decode(vocab.decode(ids)) == sentences[3]

    path = tmp_path / "m.model"
    spm.save(str(path))
    loaded = attn.data.SentencePiece.load(str(path))
    assert loaded.serialized() == spm.serialized() == path.read_bytes()
    assert attn.data.SentencePiece.from_serialized(spm.serialized()).pieces == spm.pieces
    # Deterministic: a second training gives the same bytes.
    again = attn.data.SentencePiece.train(sentences, vocab_size=400, model_type=model_type, normalization="identity")
    assert again.serialized() == spm.serialized()


def test_errors(sentences, tmp_path):
    with pytest.raises(attn.AttnError, match="too large"):
        attn.data.SentencePiece.train(sentences, vocab_size=100000)
    with pytest.raises(attn.AttnError, match="model_type"):
        attn.data.SentencePiece.train(sentences, model_type="word")
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"not a model")
    with pytest.raises(attn.AttnError, match="bad.model"):
        attn.data.SentencePiece.load(str(bad))
