"""attn.data: translation data in C++ (see docs/data.md) -- the Tatoeba reader, the PyTorch
seq2seq tutorial's normalisation and filter, word/character tokenisers, Vocab (JSON files),
seeded splits and length-bucketed padded batches.

    import attn
    pairs, report = attn.data.read_tatoeba("data/eng-fra.tutorial.tsv", reverse=True, normalize="tutorial")
    src_vocab = attn.data.Vocab.build([attn.data.tokenize(p.src) for p in pairs])
    tgt_vocab = attn.data.Vocab.build([attn.data.tokenize(p.tgt) for p in pairs])
    enc = attn.data.encode_pairs(pairs, src_vocab, tgt_vocab)
    for b in attn.data.make_batches(enc, epoch=0, max_tokens=2048, seed=1):
        b.src, b.tgt_in, b.tgt_out, b.src_padding_mask  # int64 [B,S], [B,T], [B,T]; bool [B,S]
"""
from ._attn.data import (  # noqa: F401
    Batch,
    ReadReport,
    SentencePair,
    SentencePiece,
    Vocab,
    clean_text,
    count_words,
    detokenize,
    encode_pairs,
    make_batches,
    normalize_string,
    read_tatoeba,
    split_indices,
    tokenize,
    tutorial_filter,
    tutorial_prefixes,
    vocab_for,
    write_tatoeba,
)
