"""attn.train: pre-training a BERT-style encoder (attn.models.BertEncoder) and querying it. The
C++ side is attn/train/bert.h; docs/models/bert.md describes the masking, the training loop and
the checkpoint layout.

    import attn, attn.models, attn.train
    sentences = [attn.train.bert_tokenize(line) for line in lines]     # token lists
    opts = attn.train.PretrainOptions(max_steps=500, batch_size=32, lr=1e-3)
    opts.model.hidden_size = 64
    r = attn.train.pretrain_bert(sentences, opts, progress=lambda step, done, lr, loss: None)
    r.stats.first_loss, r.stats.final_loss, r.stats.valid.accuracy
    attn.train.save_bert_checkpoint("runs/bert", r.model, r.vocab, options=r.options)
    fill = attn.train.FillMask("runs/bert")
    [(p.token, p.probability) for p in fill("I am [MASK].", top_k=5).predictions[0]]
"""
from ._attn.train import (  # noqa: F401
    IGNORE_INDEX,
    BertBatch,
    BertCheckpoint,
    BertExample,
    BertVocab,
    FillMask,
    FillPrediction,
    FillResult,
    MaskingOptions,
    MlmEvaluation,
    PretrainOptions,
    PretrainResult,
    PretrainStats,
    TextOptions,
    bert_tokenize,
    collate_bert,
    evaluate_mlm,
    load_bert_checkpoint,
    mask_tokens,
    pretrain_bert,
    read_sentences,
    save_bert_checkpoint,
)

__all__ = [
    "IGNORE_INDEX", "BertBatch", "BertCheckpoint", "BertExample", "BertVocab", "FillMask", "FillPrediction",
    "FillResult", "MaskingOptions", "MlmEvaluation", "PretrainOptions", "PretrainResult", "PretrainStats",
    "TextOptions", "bert_tokenize", "collate_bert", "evaluate_mlm", "load_bert_checkpoint", "mask_tokens",
    "pretrain_bert", "read_sentences", "save_bert_checkpoint",
]
