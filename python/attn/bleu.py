"""attn.bleu: BLEU computed exactly as sacreBLEU 2.x computes it (tokenize '13a' | 'zh' | 'char' |
'none', smoothing 'exp' | 'floor' | 'add-k' | 'none'), in C++. See docs/bleu.md.

    import attn
    attn.bleu.corpus_bleu(["The cat sat."], ["The cat sat on the mat."]).score
"""
from ._attn.bleu import (  # noqa: F401
    BLEUScore,
    corpus_bleu,
    sentence_bleu,
    tokenize_13a,
    tokenize_char,
    tokenize_zh,
)
