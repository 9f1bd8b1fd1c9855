"""attn.models.TransformerModel: configuration, state_dict names, the PyTorch fixture's logits,
decoding (greedy / beam / sampling) and a few training steps."""
import os

import numpy as np
import pytest

import attn
import attn.functional as F
import attn.models

FIXTURES = os.environ.get("ATTN_FIXTURES_DIR", os.path.join(os.path.dirname(__file__), "..", "fixtures"))


def tiny(**kw):
    cfg = dict(src_vocab=11, tgt_vocab=9, d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
               dim_feedforward=8, dropout=0.0, max_positions=16)
    cfg.update(kw)
    return attn.models.TransformerModel(**cfg)


def batch():
    src = attn.tensor(np.array([[3, 4, 5, 6, 2], [5, 7, 2, 0, 0], [8, 9, 10, 3, 2]], dtype=np.int64))
    lens = attn.tensor(np.array([5, 3, 5], dtype=np.int64))
    tgt_in = attn.tensor(np.array([[1, 3, 4, 5], [1, 6, 7, 8], [1, 4, 3, 0]], dtype=np.int64))
    return src, lens, tgt_in


def test_config_and_state_dict_names():
    m = tiny()
    assert m.config["d_model"] == 8 and m.config["positions"] == "sinusoidal" and m.config["tie_output"]
    keys = list(m.state_dict())
    assert keys[0] == "src_embed.weight" and keys[1] == "tgt_embed.weight" and keys[-1] == "out.bias"
    assert "out.weight" not in keys
    assert "transformer.decoder.layers.1.multihead_attn.in_proj_weight" in keys
    shared = tiny(tgt_vocab=11, share_embeddings=True, tie_output=False, positions="learned")
    keys = list(shared.state_dict())
    assert "tgt_embed.weight" not in keys and "out.weight" in keys and "pos_embed.weight" in keys
    assert isinstance(m, attn.nn.Module)
    with pytest.raises(TypeError, match="unknown option 'd_modle'"):
        attn.models.TransformerModel(src_vocab=5, tgt_vocab=5, d_modle=8)
    with pytest.raises(attn.AttnError, match="share_embeddings"):
        tiny(share_embeddings=True)


def test_matches_torch_fixture():
    f = attn.io.load_file(os.path.join(FIXTURES, "transformer_model", "post_ln_sinusoidal_tied.safetensors"))
    m = tiny().eval()
    m.load_state_dict({k: f[k] for k in m.state_dict()})
    logits = m(f["src"], f["src_lens"], f["tgt_in"])
    assert logits.shape == (3, 4, 9)
    np.testing.assert_allclose(logits.detach().numpy(), f["out"].numpy(), atol=2e-5)  # float32 vs float64 reference
    att = m.last_attention().numpy()
    assert att.shape == (3, 4, 5)
    np.testing.assert_allclose(att.sum(-1), 1.0, atol=1e-5)
    assert m.cross_attention_weights(f["src"], f["src_lens"], f["tgt_in"]).shape == (2, 3, 2, 4, 5)
    assert m.encoder_self_attention_weights(f["src"], f["src_lens"]).shape == (2, 3, 2, 5, 5)
    assert m.aux_loss() is None


def test_decode_greedy_beam_sample():
    m = tiny().eval()
    src, lens, _ = batch()
    greedy = m.decode(src, lens, method="greedy", max_length=6)
    assert len(greedy) == 3 and all(len(r) == 1 for r in greedy)
    h = greedy[0][0]
    assert set(h) == {"tokens", "score", "log_prob", "attention"}
    assert h["attention"].shape == (len(h["tokens"]), 5)
    top1 = m.decode(src, lens, method="sample", top_k=1, max_length=6, generator=attn.Generator(3))
    assert [r[0]["tokens"] for r in top1] == [r[0]["tokens"] for r in greedy]
    beam = m.decode(src, lens, method="beam", beam_size=3, n_best=2, max_length=6)
    assert all(len(r) == 2 and r[0]["score"] >= r[1]["score"] for r in beam)
    a = m.decode(src, lens, method="sample", temperature=1.5, max_length=6, generator=attn.Generator(9))
    b = m.decode(src, lens, method="sample", temperature=1.5, max_length=6, generator=attn.Generator(9))
    assert [r[0]["tokens"] for r in a] == [r[0]["tokens"] for r in b]
    with pytest.raises(attn.AttnError, match="top_p"):
        m.decode(src, lens, method="sample", top_p=0.0)
    with pytest.raises(attn.AttnError, match="method"):
        m.decode(src, lens, method="nucleus")


def test_training_steps_reduce_the_loss():
    attn.manual_seed(3)
    m = tiny(moe_experts=2, moe_top_k=1)
    src, lens, tgt_in = batch()
    tgt_out = attn.tensor(np.array([3, 4, 5, 2, 6, 7, 8, 2, 4, 3, 2, 0], dtype=np.int64))
    opt = attn.optim.Adam(m.parameters(), lr=0.01)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = F.cross_entropy(m(src, lens, tgt_in).reshape(12, 9), tgt_out, ignore_index=0) + m.aux_loss()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
