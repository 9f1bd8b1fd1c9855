"""attn.bleu: the C++ BLEU through Python, against the committed NLTK reference values
(tools/bleu_reference.py) and hand-computed cases."""
import json
import math

import pytest

import attn
from conftest import FIXTURES


def reference():
    with open(FIXTURES / "bleu" / "reference.json", encoding="utf-8") as f:
        return json.load(f)


def test_corpus_matches_reference_fixture():
    for case in reference()["corpus"]:
        refs = case["references"]
        s = attn.bleu.corpus_bleu(case["hypotheses"], refs, tokenize=case["tokenize"], lowercase=case["lowercase"])
        assert s.score == pytest.approx(case["score"], abs=1e-9), case["name"]
        assert s.counts == case["counts"] and s.totals == case["totals"], case["name"]
        assert (s.sys_len, s.ref_len) == (case["sys_len"], case["ref_len"]), case["name"]
        if len(refs) == 1:  # a plain list of str is one reference per sentence
            assert attn.bleu.corpus_bleu(case["hypotheses"], refs[0], tokenize=case["tokenize"],
                                         lowercase=case["lowercase"]).score == s.score


def test_sentence_matches_reference_fixture():
    for case in reference()["sentences"]:
        s = attn.bleu.sentence_bleu(case["hypothesis"], case["references"])
        assert s.score == pytest.approx(case["score"], abs=1e-9)
        assert attn.bleu.sentence_bleu(case["hypothesis"], case["references"][0]).score == s.score


def test_hand_computed_and_format():
    # hyp: the cat sat on a mat .  ref: the cat sat on the mat .  -> p = 6/7, 4/6, 2/5, 1/4, BP 1
    s = attn.bleu.corpus_bleu(["the cat sat on a mat."], ["the cat sat on the mat."])
    assert s.score == pytest.approx(100 * (6 / 7 * 4 / 6 * 2 / 5 * 1 / 4) ** 0.25, abs=1e-10)
    assert str(s) == "BLEU = 48.89 85.7/66.7/40.0/25.0 (BP = 1.000 ratio = 1.000 hyp_len = 7 ref_len = 7)"
    assert s.precisions[0] == pytest.approx(600 / 7)
    # sentence level, effective order 2: BP = exp(1 - 6/2)
    assert attn.bleu.sentence_bleu("the cat", ["the cat sat on the mat"]).score == pytest.approx(100 * math.exp(-2))
    assert attn.bleu.corpus_bleu(["the cat"], ["the cat sat on the mat"]).score == 0.0
    assert attn.bleu.sentence_bleu("The CAT", "the cat", lowercase=True).score == pytest.approx(100.0)  # exp(log 100)
    assert attn.bleu.tokenize_13a("Hello, world!") == "Hello , world !"


def test_errors():
    with pytest.raises(attn.AttnError, match="2 hypotheses but 1 references"):
        attn.bleu.corpus_bleu(["a", "b"], ["a"])
    with pytest.raises(attn.AttnError, match="tokenize 'intl'"):
        attn.bleu.corpus_bleu(["a"], ["a"], tokenize="intl")
    with pytest.raises(TypeError):
        attn.bleu.corpus_bleu(["a"], [3])
