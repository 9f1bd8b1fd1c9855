"""attn.models.BertEncoder and attn.train's BERT tools: configuration, forward outputs, the tied
MLM head, gradients, masking statistics, a tiny pre-training run, checkpoints and fill-mask.
(The model's agreement with a PyTorch reference is tested in C++: tests/models/bert_test.cc.)"""
import math

import numpy as np
import pytest

import attn
import attn.functional as F
import attn.models
import attn.train

SENTENCES = ["i am happy .", "you are sad .", "he is tall .", "we are busy .", "she is my friend ."]


def tiny_config(**kw):
    cfg = dict(vocab_size=23, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
               hidden_dropout_prob=0.0, max_position_embeddings=12)
    cfg.update(kw)
    return attn.models.BertConfig(**cfg)


def ids(rows):
    return attn.tensor(np.array(rows, dtype=np.int64))


BATCH = [[1, 5, 6, 7, 2, 0], [1, 8, 9, 10, 11, 2]]
MASK = [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]


def test_config_fields_and_errors():
    c = tiny_config(next_sentence=True)
    assert c.hidden_size == 16 and c.hidden_act == "gelu" and c.layer_norm_eps == 1e-12 and c.next_sentence
    assert c.dtype is attn.float32
    c.dtype = "float64"
    c.num_hidden_layers = 1
    d = c.to_dict()
    assert d["dtype"] is attn.float64 and d["num_hidden_layers"] == 1 and d["vocab_size"] == 23
    assert "intermediate_size=32" in repr(c)
    assert attn.models.BertConfig(**{k: v for k, v in d.items()}) == c
    m = attn.models.BertEncoder(c)
    assert m.config == c and isinstance(m, attn.nn.Module)
    assert attn.models.BertEncoder(vocab_size=23, hidden_size=8, num_attention_heads=2).config.hidden_size == 8

    with pytest.raises(TypeError, match="unknown option 'hiden_size'"):
        attn.models.BertConfig(vocab_size=5, hiden_size=8)
    with pytest.raises(AttributeError, match="hiden_size"):
        c.hiden_size = 8
    with pytest.raises(attn.AttnError, match="vocab_size must be positive"):
        attn.models.BertEncoder(attn.models.BertConfig())
    with pytest.raises(attn.AttnError, match="num_attention_heads"):
        attn.models.BertEncoder(tiny_config(num_attention_heads=3))
    with pytest.raises(attn.AttnError, match="hidden_act"):
        attn.models.BertEncoder(tiny_config(hidden_act="swish"))


def test_forward_shapes_finite_and_padding():
    m = attn.models.BertEncoder(tiny_config()).eval()
    out = m(ids(BATCH), attention_mask=ids(MASK))
    assert out.hidden.shape == (2, 6, 16) and out.mlm_logits.shape == (2, 6, 23)
    assert out.pooled is None and out.nsp_logits is None
    assert np.isfinite(out.mlm_logits.detach().numpy()).all()
    # A padded row's real positions see the same hidden states as the row alone (key-padding mask).
    alone = m(ids([BATCH[0][:5]]))
    np.testing.assert_allclose(out.hidden.detach().numpy()[0, :5], alone.hidden.detach().numpy()[0],
                               atol=1e-5)  # float32, different reduction lengths in the softmax
    with pytest.raises(attn.AttnError, match="next-sentence"):
        m.nsp_logits(out.hidden)
    with pytest.raises(attn.AttnError, match="sequence length 13"):
        m(ids([[4] * 13]))

    nsp = attn.models.BertEncoder(tiny_config(next_sentence=True)).eval()
    out = nsp(ids(BATCH), ids([[0, 0, 0, 1, 1, 1]] * 2), ids(MASK))
    assert out.pooled.shape == (2, 16) and out.nsp_logits.shape == (2, 2)
    assert np.isfinite(out.nsp_logits.detach().numpy()).all()
    h = nsp.encode(ids(BATCH))
    np.testing.assert_array_equal(nsp.mlm_logits(h).detach().numpy(), nsp(ids(BATCH)).mlm_logits.detach().numpy())


def test_mlm_head_is_tied_to_word_embeddings():
    m = attn.models.BertEncoder(tiny_config())
    sd = m.state_dict()
    emb, dec = sd["embeddings.word_embeddings.weight"], sd["cls.predictions.decoder.weight"]
    assert emb.shape == (23, 16) and emb.data_ptr() == dec.data_ptr()
    assert "cls.predictions.bias" in sd and "pooler.dense.weight" not in sd
    assert "encoder.layers.1.self_attn.in_proj_weight" in sd
    # parameters() lists the shared tensor once (an optimizer updates it once).
    ptrs = [p.data_ptr() for p in m.parameters()]
    assert len(ptrs) == len(set(ptrs)) and emb.data_ptr() in ptrs
    assert sum(1 for k in sd if k.endswith("word_embeddings.weight") or k == "cls.predictions.decoder.weight") == 2
    # Zeroing the embedding table zeroes the decoder's contribution: logits become the MLM bias.
    with attn.no_grad():
        emb.zero_()
    logits = m.eval()(ids(BATCH)).mlm_logits.detach().numpy()
    np.testing.assert_array_equal(logits, np.broadcast_to(sd["cls.predictions.bias"].numpy(), logits.shape))


def test_eval_is_deterministic_and_train_applies_dropout():
    m = attn.models.BertEncoder(tiny_config(hidden_dropout_prob=0.3))
    m.eval()
    a = m(ids(BATCH), attention_mask=ids(MASK)).mlm_logits.detach().numpy()
    b = m(ids(BATCH), attention_mask=ids(MASK)).mlm_logits.detach().numpy()
    np.testing.assert_array_equal(a, b)
    m.train()
    assert m.training
    c = m(ids(BATCH), attention_mask=ids(MASK)).mlm_logits.detach().numpy()
    assert not np.array_equal(a, c)


def test_gradient_reaches_every_parameter():
    m = attn.models.BertEncoder(tiny_config(next_sentence=True, dtype=attn.float64))
    out = m(ids(BATCH), ids([[0, 0, 0, 1, 1, 1]] * 2), ids(MASK))
    labels = ids([[-100, 5, -100, 7, -100, -100], [-100, -100, 9, -100, 11, -100]])
    loss = F.cross_entropy(out.mlm_logits.reshape(-1, 23), labels.reshape(-1)) + \
        F.cross_entropy(out.nsp_logits, ids([0, 1]))
    assert out.mlm_logits.dtype is attn.float64
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        g = p.grad.numpy()
        assert np.isfinite(g).all() and np.abs(g).max() > 0, name


def test_vocab_and_tokenize():
    toks = attn.train.bert_tokenize("I am [MASK].")
    assert toks == ["i", "am", "[MASK]", "."]
    assert attn.train.bert_tokenize("我有[MASK]。", normalize="none", tokenizer="char") == ["我", "有", "[MASK]", "。"]
    with pytest.raises(attn.AttnError, match="tokenizer"):
        attn.train.bert_tokenize("x", tokenizer="bpe")
    sents = [attn.train.bert_tokenize(s) for s in SENTENCES]
    v = attn.train.BertVocab.build(sents)
    words = {w for s in sents for w in s}
    assert v.num_words == len(words) and len(v) == v.size() == len(words) + 5 and v.mask_id == v.size() - 1
    assert (v.pad_id, v.cls_id, v.sep_id, v.unk_id, v.first_word) == (0, 1, 2, 3, 4)
    assert v.token(v.mask_id) == "[MASK]" and v.id("[CLS]") == 1 and v.id("zebra") == v.unk_id
    assert all(v.token(v.id(w)) == w for w in words) and "happy" in v and "zebra" not in v
    assert v.encode(["i", "am"]) == [1, v.id("i"), v.id("am"), 2]
    assert v.is_special(v.mask_id) and not v.is_special(v.first_word)
    with pytest.raises(attn.AttnError):
        v.token(v.size())

    b = attn.train.collate_bert([attn.train.BertExample(a=[4, 5, 6]), attn.train.BertExample(a=[7])], max_length=8)
    np.testing.assert_array_equal(b.input_ids.numpy(), [[1, 4, 5, 6, 2], [1, 7, 2, 0, 0]])
    np.testing.assert_array_equal(b.attention_mask.numpy(), [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    assert b.next_sentence_label is None


def test_mask_tokens_statistics():
    words = [[f"w{i}"] for i in range(50)]
    v = attn.train.BertVocab.build(words)
    rng = np.random.default_rng(0)
    x = rng.integers(v.first_word, v.mask_id, size=(200, 100))
    x[:, 0] = v.cls_id
    x[:, -1] = v.sep_id
    x[::7, 50:] = v.pad_id
    x[:, 10] = v.unk_id
    x[:, 20] = v.mask_id
    special = np.isin(x, [v.pad_id, v.cls_id, v.sep_id, v.unk_id, v.mask_id])
    masked, labels = attn.train.mask_tokens(attn.tensor(x), v, generator=attn.Generator(0))
    m, lab = masked.numpy(), labels.numpy()
    chosen = lab != attn.train.IGNORE_INDEX
    n_words = (~special).sum()
    assert n_words > 15000
    # 15% chosen: the binomial's sd over ~16k positions is 0.3%; +-1.5% is 5 sd.
    assert abs(chosen.sum() / n_words - 0.15) < 0.015
    assert not (chosen & special).any()
    np.testing.assert_array_equal(m[special], x[special])
    np.testing.assert_array_equal(m[~chosen], x[~chosen])
    np.testing.assert_array_equal(lab[chosen], x[chosen])
    to_mask = (m[chosen] == v.mask_id).mean()
    assert abs(to_mask - 0.8) < 0.03  # ~2.4k chosen: sd 0.8%
    replaced = m[chosen & (m != v.mask_id)]
    assert ((replaced >= v.first_word) & (replaced < v.mask_id)).all()
    again, _ = attn.train.mask_tokens(attn.tensor(x), v, generator=attn.Generator(0))
    np.testing.assert_array_equal(again.numpy(), m)
    with pytest.raises(attn.AttnError, match="probability"):
        attn.train.mask_tokens(attn.tensor(x), v, probability=1.5)


def tiny_pretrain_options(**kw):
    o = attn.train.PretrainOptions(max_steps=300, batch_size=10, lr=1e-2, warmup_steps=4, valid_fraction=0.0,
                                   max_length=12, seed=3, **kw)
    o.model.hidden_size = 16
    o.model.num_hidden_layers = 1
    o.model.num_attention_heads = 2
    o.model.intermediate_size = 32
    o.model.hidden_dropout_prob = 0.0
    o.model.max_position_embeddings = 12
    return o


def test_pretrain_save_load_fill(tmp_path):
    sents = [attn.train.bert_tokenize(s) for s in SENTENCES] * 8
    opts = tiny_pretrain_options()
    assert opts.model.hidden_size == 16 and opts.masking.probability == 0.15
    assert opts.to_dict()["model"]["num_hidden_layers"] == 1
    steps = []
    r = attn.train.pretrain_bert(sents, opts, progress=lambda step, done, lr, loss: steps.append((step, done, loss)))
    st = r.stats
    assert st.steps == 300 and st.stop_reason == "max_steps" and st.n_train == 40 and st.n_valid == 0
    assert [s[0] for s in steps] == list(range(1, 301)) and steps[-1][1] == pytest.approx(1.0)
    assert len(st.loss_history) == 300 and st.first_loss == st.loss_history[0]
    assert st.final_loss < 0.5 * st.first_loss, (st.first_loss, st.final_loss)  # 2.99 -> 0.73
    assert r.options.model.vocab_size == r.vocab.size() == r.model.config.vocab_size
    assert not r.model.training

    ev = attn.train.evaluate_mlm(r.model, r.vocab, sents, max_length=12)
    assert ev.masked > 0 and 0.0 <= ev.accuracy <= 1.0 and math.isfinite(ev.loss) and ev.nsp_accuracy == -1

    d = str(tmp_path / "bert")
    attn.train.save_bert_checkpoint(d, r.model, r.vocab, options=r.options, metrics={"train_loss": st.final_loss})
    ck = attn.train.load_bert_checkpoint(d)
    assert ck.vocab == r.vocab and ck.metrics["train_loss"] == pytest.approx(st.final_loss)
    assert ck.text.normalize == "tutorial" and ck.model.config == r.model.config
    x = ids([r.vocab.encode(sents[0]), r.vocab.encode(sents[1])[:6]])
    np.testing.assert_array_equal(ck.model(x).mlm_logits.detach().numpy(), r.model(x).mlm_logits.detach().numpy())

    fill = attn.train.FillMask(d)
    res = fill("She is my [MASK].", top_k=4)
    assert res.tokens == ["she", "is", "my", "[MASK]", "."] and res.mask_positions == [3]
    (preds,) = res.predictions
    probs = [p.probability for p in preds]
    assert len(preds) == 4 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-12
    assert all(not r.vocab.is_special(p.id) and r.vocab.token(p.id) == p.token for p in preds)
    assert preds[0].token == "friend", preds  # the only word seen there (p = 0.90)
    same = attn.train.FillMask(r.model, r.vocab).fill_tokens(["she", "is", "my", "[MASK]", "."], top_k=4)
    assert [(p.id, p.probability) for p in same.predictions[0]] == [(p.id, p.probability) for p in preds]

    with pytest.raises(attn.AttnError, match=r"no \[MASK\]"):
        fill("she is my friend .")


def test_bad_inputs_name_the_problem(tmp_path):
    with pytest.raises(attn.AttnError, match="not a directory"):
        attn.train.load_bert_checkpoint(str(tmp_path / "missing"))
    with pytest.raises(attn.AttnError, match="not a directory"):
        attn.train.FillMask(str(tmp_path / "missing"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text('{"format": "attn.bert", "version": 1, "model": {"hidden_sise": 8}}')
    with pytest.raises(attn.AttnError, match="hidden_sise"):
        attn.train.load_bert_checkpoint(str(tmp_path / "bad"))
    with pytest.raises(TypeError, match="unknown option 'max_step'"):
        attn.train.PretrainOptions(max_step=3)
    sents = [["a", "b"], ["c", "d"]]
    with pytest.raises(attn.AttnError, match="no limit"):
        attn.train.pretrain_bert(sents, attn.train.PretrainOptions())
    with pytest.raises(attn.AttnError, match="max_length 64 exceeds"):
        o = attn.train.PretrainOptions(max_steps=1)
        o.model.max_position_embeddings = 16
        attn.train.pretrain_bert(sents, o)


def test_progress_callback_exception_stops_training():
    def stop(step, done, lr, loss):
        if step == 2:
            raise KeyboardInterrupt("stop here")

    sents = [attn.train.bert_tokenize(s) for s in SENTENCES] * 4
    with pytest.raises(KeyboardInterrupt, match="stop here"):
        attn.train.pretrain_bert(sents, tiny_pretrain_options(), progress=stop)
