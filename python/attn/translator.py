"""attn.translator: train a translator (an RNN encoder-decoder with attention, or a Transformer;
word, character or SentencePiece subword tokens) on a Tatoeba-style TSV, keep the best
checkpoint, translate with it (greedy, beam search or sampling, n-best, attention maps of every
layer and head) and score it with sacreBLEU-compatible BLEU. The C++ side is
attn/train/translator.h; docs/training.md lists every option, the checkpoint layout and how
resuming works.

    import attn
    cfg = attn.translator.default_config()        # every option with its default
    cfg.update(corpus_path="data/eng-fra.tutorial.tsv", reverse=True, epochs=10,
               checkpoint_dir="runs/fra-eng", time_budget=300)
    cfg["model"].update(attention="bahdanau", hidden_size=256)
    result = attn.translator.train_translator(cfg)
    t = attn.translator.Translator.load("runs/fra-eng/best")
    out = t.translate("Je suis content.", beam_size=5)
    out["text"], out["attention"].shape           # 'i m happy.', (T, S)

    # a Transformer on joint SentencePiece subwords
    cfg = attn.translator.default_config()
    cfg.update(corpus_path="data/eng-fra.tutorial.tsv", model_type="transformer",
               src_tokenizer="spm", tgt_tokenizer="spm", spm_vocab_size=4000, lr=5e-4,
               lr_schedule="noam", warmup_steps=1000, adam_beta2=0.98, checkpoint_dir="runs/tf")
    cfg["transformer"].update(d_model=256, nhead=4, share_embeddings=True)
"""
from ._attn.translator import (  # noqa: F401
    Translator,
    default_config,
    lr_schedule_choices,
    model_type_choices,
    normalize_choices,
    optimizer_choices,
    spm_model_type_choices,
    tokenizer_choices,
    train_translator,
)
