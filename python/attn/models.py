"""attn.models: translation models with their searches, and a BERT-style encoder.

    import attn, attn.models
    m = attn.models.TransformerModel(src_vocab=100, tgt_vocab=100, d_model=64, nhead=4)
    logits = m(src, src_lens, tgt_in)                     # [B, T, tgt_vocab]
    m.eval()
    hyps = m.decode(src, src_lens, method="beam", beam_size=4)          # per row, best first
    samples = m.decode(src, src_lens, method="sample", top_p=0.9, generator=attn.Generator(1))

TransformerModel takes TransformerConfig's fields as keyword arguments (see
docs/models/transformer.md); it is an attn.nn.Module (parameters(), state_dict(), train()/eval()).

    cfg = attn.models.BertConfig(vocab_size=1000, hidden_size=64, num_hidden_layers=2)
    bert = attn.models.BertEncoder(cfg)                   # an attn.nn.Module too
    out = bert(input_ids, attention_mask=mask)            # out.hidden [B, T, D], out.mlm_logits [B, T, V]

BertConfig has Hugging Face's field names (docs/models/bert.md); pre-training and fill-mask are in
attn.train.
"""
from ._attn.models import TransformerModel  # noqa: F401
from ._attn.models import BertConfig, BertEncoder, BertOutput  # noqa: F401

__all__ = ["TransformerModel", "BertConfig", "BertEncoder", "BertOutput"]
