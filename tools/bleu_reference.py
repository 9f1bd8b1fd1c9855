#!/usr/bin/env python3
"""Reference BLEU values for tests/data/bleu_test.cc, computed independently of attn's C++ code.

Scores come from NLTK's corpus_bleu with SmoothingFunction().method3 (the NIST geometric sequence
smoothing of mteval-v13a: the k-th order without a match counts 1 / (2^k * total), which is
sacreBLEU's default smooth_method='exp'), multiplied by 100. NLTK does not tokenise, so the text is
first tokenised by this script's own Python port of sacreBLEU's tokenisers ('13a', 'zh', 'char'),
written with Python's `re` as sacreBLEU writes them; the C++ side uses hand-written scanners, so
the fixture checks those scanners against the regular expressions too.

References are real sentence pairs from /work/shared/data/eng-fra.small.tsv (Tatoeba), hypotheses
are deterministic perturbations of them (word drops, swaps, substitutions, truncations).

    apt-get install python3-nltk     # Debian 12: nltk 3.8
    /usr/bin/python3 tools/bleu_reference.py [path/to/eng-fra.tsv]
writes tests/fixtures/bleu/reference.json (a few KB). The test suite only reads the JSON.
"""
import json
import math
import os
import random
import re
import sys
from collections import defaultdict
from fractions import Fraction

from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, modified_precision, closest_ref_length

# --- tokenisers (ports of sacreBLEU 2.x) ---------------------------------------------------------

_REGEXP_RULES = [
    (re.compile(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])'), r' \1 '),  # symbols and punctuation
    (re.compile(r'([^0-9])([\.,])'), r'\1 \2 '),                  # . and , unless after a digit
    (re.compile(r'([\.,])([^0-9])'), r' \1 \2'),                  # . and , unless before a digit
    (re.compile(r'([0-9])(-)'), r'\1 \2 '),                       # - after a digit
]


def regexp_rules(line):
    for pattern, repl in _REGEXP_RULES:
        line = pattern.sub(repl, line)
    return ' '.join(line.split())


def tok_13a(line):
    line = line.replace('<skipped>', '').replace('-\n', '').replace('\n', ' ')
    if '&' in line:
        line = line.replace('&quot;', '"').replace('&amp;', '&').replace('&lt;', '<').replace('&gt;', '>')
    return regexp_rules(f' {line} ')


# sacreBLEU's ranges, as string literals: two of them ('\u20000', '\u2f800', ...) are two-character
# strings in Python, and the comparison below treats them exactly as sacreBLEU does.
_ZH_RANGES = (
    ('\u3400', '\u4db5'), ('\u4e00', '\u9fa5'), ('\u9fa6', '\u9fbb'), ('\uf900', '\ufa2d'),
    ('\ufa30', '\ufa6a'), ('\ufa70', '\ufad9'), ('\u20000', '\u2a6d6'), ('\u2f800', '\u2fa1d'),
    ('\uff00', '\uffef'), ('\u2e80', '\u2eff'), ('\u3000', '\u303f'), ('\u31c0', '\u31ef'),
    ('\u2f00', '\u2fdf'), ('\u2ff0', '\u2fff'), ('\u3100', '\u312f'), ('\u31a0', '\u31bf'),
    ('\ufe10', '\ufe1f'), ('\ufe30', '\ufe4f'), ('\u2600', '\u26ff'), ('\u2700', '\u27bf'),
    ('\u3200', '\u32ff'), ('\u3300', '\u33ff'),
)


def tok_zh(line):
    out = ''
    for ch in line.strip():
        out += f' {ch} ' if any(lo <= ch <= hi for lo, hi in _ZH_RANGES) else ch
    return regexp_rules(out)


def tok_char(line):
    return ' '.join(ch for ch in line if not ch.isspace())


TOKENIZERS = {'13a': tok_13a, 'zh': tok_zh, 'char': tok_char}


def tokens(line, tokenize, lowercase):
    if lowercase:
        line = line.lower()
    return TOKENIZERS[tokenize](line.rstrip()).split()


# --- reference BLEU ----------------------------------------------------------------------------------

def reference_bleu(hyps, streams, tokenize='13a', lowercase=False):
    hyp_toks = [tokens(h, tokenize, lowercase) for h in hyps]
    # NLTK counts a hypothesis shorter than n as one n-gram (max(1, count)) where sacreBLEU counts
    # none, so the fixture only uses hypotheses with at least 4 tokens.
    assert all(len(h) >= 4 for h in hyp_toks), [h for h in hyp_toks if len(h) < 4]
    ref_toks = [[tokens(s[i], tokenize, lowercase) for s in streams] for i in range(len(hyps))]
    score = 100.0 * corpus_bleu(ref_toks, hyp_toks, smoothing_function=SmoothingFunction().method3)
    counts, totals = [0] * 4, [0] * 4
    ref_len = 0
    for refs, hyp in zip(ref_toks, hyp_toks):
        for n in range(1, 5):
            p = modified_precision(refs, hyp, n)
            counts[n - 1] += p.numerator
            totals[n - 1] += p.denominator if len(hyp) >= n else 0
        ref_len += closest_ref_length(refs, len(hyp))
    sys_len = sum(len(h) for h in hyp_toks)
    return dict(tokenize=tokenize, lowercase=lowercase, hypotheses=hyps, references=streams, score=score,
                counts=counts, totals=totals, sys_len=sys_len, ref_len=ref_len)


def perturb(sentence, rng, vocab, tokenize='13a'):
    """A perturbed copy with at least 4 tokens (see reference_bleu)."""
    while True:
        h = perturb_once(sentence, rng, vocab)
        if len(tokens(h, tokenize, False)) >= 4:
            return h


def perturb_once(sentence, rng, vocab):
    words = sentence.split()
    kind = rng.randrange(6)
    if kind == 0 and len(words) > 1:
        del words[rng.randrange(len(words))]
    elif kind == 1 and len(words) > 1:
        i = rng.randrange(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif kind == 2:
        words[rng.randrange(len(words))] = rng.choice(vocab)
    elif kind == 3 and len(words) > 2:
        words = words[: len(words) - 1 - rng.randrange(2)]
    elif kind == 4:
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
    # kind 5: unchanged (an exact match)
    return ' '.join(words)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else '/work/shared/data/eng-fra.small.tsv'
    pairs = [l.rstrip('\n').split('\t')[:2] for l in open(path, encoding='utf-8') if '\t' in l]
    rng = random.Random(20240607)
    fr_vocab = sorted({w for _, f in pairs for w in f.split()})
    en_vocab = sorted({w for e, _ in pairs for w in e.split()})
    # Sentences long enough that every perturbation keeps 4 tokens.
    sample = rng.sample([p for p in pairs if len(tok_13a(p[1]).split()) >= 5], 40)
    sample_en = rng.sample([p for p in pairs if len(tok_13a(p[0]).split()) >= 4], 25)
    cases = []
    # French references, 13a, case-sensitive.
    refs = [f for _, f in sample]
    cases.append(dict(name='fra_13a', **reference_bleu([perturb(r, rng, fr_vocab) for r in refs], [refs])))
    # English, lowercased, with some hypotheses changed in case only.
    refs = [e for e, _ in sample_en]
    hyps = [perturb(r, rng, en_vocab) for r in refs]
    hyps = [h.upper() if i % 4 == 0 else h for i, h in enumerate(hyps)]
    cases.append(dict(name='eng_13a_lowercase', **reference_bleu(hyps, [refs], lowercase=True)))
    # Two references: English sentences that have at least two French translations.
    by_en = defaultdict(list)
    for e, f in pairs:
        by_en[e].append(f)
    multi = [fs for fs in by_en.values() if len(fs) >= 3 and len(tok_13a(fs[2]).split()) >= 5][:20]
    hyps = [perturb(fs[2], rng, fr_vocab) for fs in multi]
    cases.append(dict(name='fra_two_references', **reference_bleu(hyps, [[fs[0] for fs in multi], [fs[1] for fs in multi]])))
    # Character tokenisation of French (accents are single code points).
    refs = [f for _, f in sample[:15]]
    cases.append(dict(name='fra_char', **reference_bleu([perturb(r, rng, fr_vocab, 'char') for r in refs], [refs], 'char')))
    # Chinese with the zh tokeniser (sentences written for this fixture).
    zh_refs = ['我今天很高兴。', '他们在北京学习中文，已经三年了。', '这本书的价格是 35.5 元。',
               '请把门关上！', '我们明天下午 3 点开会。', 'Tom 说他不喜欢咖啡。']
    zh_hyps = ['我今天很开心。', '他们在北京学中文，有三年了。', '这本书价格是 35.5 元。',
               '请关门！', '我们明天下午三点开会。', 'Tom 说他不爱咖啡。']
    cases.append(dict(name='zh', **reference_bleu(zh_hyps, [zh_refs], 'zh')))

    # Sentence level: hypotheses of at least 4 tokens, where sacreBLEU's effective order is the full 4.
    sentences = []
    for e, f in rng.sample(pairs, 60):
        if len(tok_13a(f).split()) < 5:
            continue
        h = perturb(f, rng, fr_vocab)
        if len(sentences) < 12:
            sentences.append(dict(hypothesis=h, references=[f], score=reference_bleu([h], [[f]])['score']))

    tricky = ['Hello, world! It costs $3.50 (or 3,50 euros).', 'A-b 1-2 x.y 5.x .5 end.', '&quot;Quoted&quot; &amp; &lt;tag&gt;',
              "L'homme «\u00a0libre\u00a0» est-il là\u202f?", 'tabs\tand\u3000ideographic  spaces', '3.14, 2,718. 1,000,000',
              'a/b\\c[d]{e}|f~g^h_i`j@k#l%m', 'Sentence ending with 5.', '..,, -- 9-']
    tokenized = [dict(text=t, **{k: TOKENIZERS[k](t) for k in TOKENIZERS}) for t in tricky]
    tokenized += [dict(text=t, zh=tok_zh(t), char=tok_char(t), **{'13a': tok_13a(t)})
                  for t in zh_refs + ['“引号”和…省略号', '全角ＡＢＣ１２３，半角abc']]

    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'bleu', 'reference.json')
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, 'w', encoding='utf-8') as fh:
        json.dump(dict(generated_by='tools/bleu_reference.py (nltk corpus_bleu + SmoothingFunction().method3)',
                       corpus=cases, sentences=sentences, tokenized=tokenized), fh, ensure_ascii=False, indent=1)
    print('wrote', os.path.normpath(out))
    for c in cases:
        print(f"{c['name']}: {c['score']:.4f}")


if __name__ == '__main__':
    main()
