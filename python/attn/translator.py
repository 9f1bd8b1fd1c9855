"""attn.translator: train an RNN encoder-decoder with attention on a Tatoeba-style TSV, keep the
best checkpoint, translate with it (greedy or beam search, n-best, attention maps) and score it
with sacreBLEU-compatible BLEU. The C++ side is attn/train/translator.h; docs/training.md lists
every option, the checkpoint layout and how resuming works.

    import attn
    cfg = attn.translator.default_config()        # every option with its default
    cfg.update(corpus_path="data/eng-fra.tutorial.tsv", reverse=True, epochs=10,
               checkpoint_dir="runs/fra-eng", time_budget=300)
    cfg["model"].update(attention="bahdanau", hidden_size=256)
    result = attn.translator.train_translator(cfg)
    t = attn.translator.Translator.load("runs/fra-eng/best")
    out = t.translate("Je suis content.", beam_size=5)
    out["text"], out["attention"].shape           # 'i m happy.', (T, S)
"""
from ._attn.translator import (  # noqa: F401
    Translator,
    default_config,
    lr_schedule_choices,
    normalize_choices,
    optimizer_choices,
    tokenizer_choices,
    train_translator,
)
