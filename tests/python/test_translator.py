"""attn.translator: training from a dict config, loading the checkpoint, translating and scoring."""
import os

import numpy as np
import pytest

import attn

FIXTURES = os.environ.get(
    "ATTN_FIXTURES_DIR", os.path.join(os.path.dirname(__file__), "..", "fixtures"))
TINY = os.path.join(FIXTURES, "train", "tiny.tsv")


def test_default_config_lists_every_option():
    cfg = attn.translator.default_config()
    assert cfg["optimizer"] == "adam" and cfg["normalize"] == "tutorial"
    assert cfg["model"]["attention"] == "bahdanau"
    assert "adamw" in attn.translator.optimizer_choices()


def test_train_translate_evaluate(tmp_path):
    twenty = tmp_path / "twenty.tsv"
    with open(TINY, encoding="utf-8") as f:
        twenty.write_text("".join(f.readlines()[:20]), encoding="utf-8")
    cfg = attn.translator.default_config()
    cfg.update(train_path=str(twenty), valid_path=str(twenty), batch_size=10, lr=0.02, epochs=30,
               seed=1, quiet=True, checkpoint_dir=str(tmp_path / "ckpt"))
    cfg["model"].update(embed_dim=32, hidden_size=64, dropout=0.0)
    epochs = []
    r = attn.translator.train_translator(cfg, on_epoch=epochs.append)
    assert len(epochs) == r["epochs_completed"] == 30
    assert r["best_valid_bleu"] == pytest.approx(100.0)

    t = attn.translator.Translator.load(str(tmp_path / "ckpt" / "best"))
    assert t.config["model"]["hidden_size"] == 64
    out = t.translate("He is busy.", beam_size=3, n_best=2)
    assert out["text"] == "il est occupe."
    assert out["source_tokens"] == ["he", "is", "busy", ".", "<eos>"]
    assert out["attention"].shape == (len(out["tokens"]), 5)
    np.testing.assert_allclose(out["attention"].sum(axis=1), 1.0, atol=1e-5)  # float32 softmax rows
    assert len(out["nbest"]) == 2
    many = t.translate(["I am cold.", "He is tall."])
    assert [m["text"] for m in many] == ["j ai froid.", "il est grand."]

    lines = [line.rstrip("\n").split("\t") for line in twenty.read_text(encoding="utf-8").splitlines()]
    ev = t.evaluate([(a, b) for a, b in lines])
    assert ev["count"] == 20 and ev["bleu_tokenize"] == "13a"
    assert ev["bleu"].score == pytest.approx(100.0)


def test_errors_are_attn_errors(tmp_path):
    cfg = attn.translator.default_config()
    cfg.update(corpus_path=TINY, optimizer="adagrad")
    with pytest.raises(attn.AttnError, match="adagrad"):
        attn.translator.train_translator(cfg)
    with pytest.raises(attn.AttnError, match="unknown field 'learning_rate'"):
        attn.translator.train_translator({"learning_rate": 1})
    with pytest.raises(attn.AttnError, match="not a directory"):
        attn.translator.Translator.load(str(tmp_path / "missing"))


def test_transformer_with_subwords(tmp_path):
    cfg = attn.translator.default_config()
    assert cfg["model_type"] == "rnn" and cfg["transformer"]["d_model"] == 256
    assert attn.translator.model_type_choices() == ["rnn", "transformer"]
    assert "spm" in attn.translator.tokenizer_choices()
    cfg.update(corpus_path=TINY, model_type="transformer", src_tokenizer="spm", tgt_tokenizer="spm",
               spm_vocab_size=70, epochs=1, batch_size=8, lr=3e-3, seed=2, quiet=True,
               checkpoint_dir=str(tmp_path / "ckpt"))
    cfg["transformer"].update(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=2,
                              dim_feedforward=32, share_embeddings=True)
    r = attn.translator.train_translator(cfg)
    assert r["epochs_completed"] == 1 and r["src_vocab_size"] == r["tgt_vocab_size"]
    assert (tmp_path / "ckpt" / "best" / "spm.model").is_file()

    t = attn.translator.Translator.load(str(tmp_path / "ckpt" / "best"))
    assert t.model_type == "transformer"
    assert t.config["transformer"]["share_embeddings"] is True
    a = t.translate("He is tall.", sample=True, top_k=5, seed=4)
    b = t.translate("He is tall.", sample=True, top_k=5, seed=4)
    assert a["tokens"] == b["tokens"] and len(a["nbest"]) == 1
    one = t.translate("He is tall.", attention_layer=0, attention_head=1)
    heads = t.attention_heads("He is tall.")  # of the same greedy translation
    T, S = len(one["tokens"]), len(one["source_tokens"])
    assert heads.shape == (2, 2, T, S)
    np.testing.assert_allclose(one["attention"], heads[0, 1], atol=1e-5)  # float32, two computations
    with pytest.raises(attn.AttnError, match="beam_size"):
        t.translate("He is tall.", sample=True, beam_size=2)
