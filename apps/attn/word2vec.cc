// `attn word2vec`: trains skip-gram / CBOW word vectors on one side of a Tatoeba TSV
// (attn/train/word2vec.h) and queries them: nearest neighbours and analogies. The vectors are
// written in the word2vec text format, which gensim and the original tools read too.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "apps/attn/commands.h"
#include "apps/attn/common.h"
#include "attn/data/tatoeba.h"
#include "attn/data/text.h"
#include "attn/train/word2vec.h"

namespace attn::cli {

namespace {

data::Normalization normalization_of(const std::string& s) {
  if (s == "none") return data::Normalization::kNone;
  if (s == "clean") return data::Normalization::kClean;
  return data::Normalization::kTutorial;
}

train::KeyedVectors load_vectors(const std::string& path, const std::string& where) {
  require_readable_file(path, where, "give the vectors file that `attn word2vec train --out` wrote");
  return train::KeyedVectors::load(path);
}

void require_word(const train::KeyedVectors& kv, const std::string& word, const std::string& where) {
  if (kv.contains(word)) return;
  throw CliError("'" + word + "' is not in the vectors (" + std::to_string(kv.size()) + " words)", where,
                 "try another word (vectors trained with --normalize tutorial are lowercase ASCII)");
}

void print_scored(const train::KeyedVectors::Scored& s) {
  for (const auto& [w, cos] : s) std::printf("%-20s %.4f\n", w.c_str(), cos);
}

}  // namespace

void register_word2vec(CLI::App& app) {
  CLI::App* w2v = app.add_subcommand("word2vec", "train word vectors (skip-gram / CBOW) and query them");
  w2v->require_subcommand(1);
  w2v->fallthrough();  // `attn word2vec train --threads 2` reaches the global option
  w2v->footer(
      "Examples:\n"
      "  attn word2vec train --data data/eng-fra.tutorial.tsv --min-count 2 --out vectors.txt\n"
      "  attn word2vec neighbors vectors.txt cat -k 10\n"
      "  attn word2vec analogy vectors.txt he his she");

  // --- train ---------------------------------------------------------------------------------
  CLI::App* tr = w2v->add_subcommand("train", "train vectors on one side of a TSV of sentence pairs");
  tr->footer(
      "Skip-gram or CBOW with negative sampling, subsampling of frequent words and a dynamic window,\n"
      "as word2vec.c (Mikolov et al. 2013). Output: the word2vec text format (\"V D\", then a word and\n"
      "D values per line).");
  struct TrainArgs {
    std::string data, side = "src", normalize = "tutorial", tokenizer = "word", out;
    int64_t max_pairs = 0;
    bool quiet = false;
    train::Word2VecOptions o;
  };
  auto a = std::make_shared<TrainArgs>();
  tr->add_option("--data", a->data, "sentence pairs, source<TAB>target[<TAB>attribution] per line")->required();
  tr->add_option("--side", a->side, "which column to train on: src (column 1) or tgt (column 2)")
      ->check(CLI::IsMember({"src", "tgt"}))
      ->capture_default_str();
  tr->add_option("--normalize", a->normalize, "text normalisation: tutorial (lowercase ASCII), clean or none")
      ->check(CLI::IsMember({"tutorial", "clean", "none"}))
      ->capture_default_str();
  tr->add_option("--tokenizer", a->tokenizer, "word (split on spaces) or char (CJK characters)")
      ->check(CLI::IsMember({"word", "char"}))
      ->capture_default_str();
  tr->add_option("--max-pairs", a->max_pairs, "read at most this many pairs (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  tr->add_option("--mode", a->o.mode, "skipgram or cbow")->check(CLI::IsMember({"skipgram", "cbow"}))->capture_default_str();
  tr->add_option("--dim", a->o.dim, "vector size")->check(CLI::PositiveNumber)->capture_default_str();
  tr->add_option("--window", a->o.window, "maximal window (each centre word draws one from 1..window)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  tr->add_option("--negatives", a->o.negatives, "noise words per example")->check(CLI::PositiveNumber)->capture_default_str();
  tr->add_option("--subsample", a->o.subsample, "subsampling threshold t (0: off)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  tr->add_option("--min-count", a->o.min_count, "drop words seen fewer times")->check(CLI::PositiveNumber)->capture_default_str();
  tr->add_option("--epochs", a->o.epochs, "passes over the text")->check(CLI::PositiveNumber)->capture_default_str();
  tr->add_option("--lr", a->o.lr, "starting learning rate, decayed linearly (0: 0.025 skip-gram, 0.05 CBOW)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  tr->add_option("--batch-size", a->o.batch_size, "examples per SGD step")->check(CLI::PositiveNumber)->capture_default_str();
  tr->add_option("--seed", a->o.seed, "random seed (same seed, same vectors)")->capture_default_str();
  tr->add_option("--out", a->out, "where to write the vectors (word2vec text format)")->required();
  tr->add_flag("--quiet,-q", a->quiet, "no progress on stderr");

  actions()[tr] = [a] {
    require_readable_file(a->data, "attn word2vec train --data", "give a TSV with one pair per line");
    data::ReadOptions ro;
    ro.reverse = a->side == "tgt";
    ro.normalize = normalization_of(a->normalize);
    ro.max_pairs = a->max_pairs;
    const data::Corpus corpus = data::read_tatoeba(a->data, ro);
    const data::Tokenization tok = a->tokenizer == "char" ? data::Tokenization::kChar : data::Tokenization::kWord;
    std::vector<std::vector<std::string>> sentences;
    sentences.reserve(corpus.pairs.size());
    for (const auto& p : corpus.pairs) sentences.push_back(data::tokenize(p.src, tok));
    std::fprintf(stderr, "word2vec: %zu sentences from %s (%s side)\n", sentences.size(), a->data.c_str(),
                 a->side.c_str());

    const bool tty = isatty(fileno(stderr));
    auto last = std::chrono::steady_clock::now();
    const auto start = last;
    train::Word2VecProgress progress = [&](double done, double lr, double loss) {
      const auto now = std::chrono::steady_clock::now();
      if (a->quiet || std::chrono::duration<double>(now - last).count() < (tty ? 0.25 : 10.0)) return;
      last = now;
      const double el = std::chrono::duration<double>(now - start).count();
      const double eta = done > 0 ? el * (1 - done) / done : 0;
      std::fprintf(stderr, "%s  %5.1f%%  lr %.5f  loss %.4f  elapsed %.0fs  eta %.0fs%s", tty ? "\r" : "", 100 * done,
                   lr, loss, el, eta, tty ? "   " : "\n");
    };
    const train::Word2VecResult r = train::train_word2vec(sentences, a->o, progress);
    if (!a->quiet && tty) std::fprintf(stderr, "\n");
    r.vectors.save(a->out);
    const auto& s = r.stats;
    std::printf("%s: %lld words x %lld dims, %lld tokens x %lld epochs (%lld kept by subsampling, %lld examples)\n",
                a->o.mode.c_str(), (long long)s.vocab_size, (long long)r.vectors.dim(), (long long)s.corpus_tokens,
                (long long)a->o.epochs, (long long)s.trained_tokens, (long long)s.examples);
    std::printf("loss per epoch:");
    for (double l : s.epoch_loss) std::printf(" %.4f", l);
    std::printf("\ntime %.1f s, %.0f tokens/s; vectors written to %s\n", s.seconds, s.tokens_per_second,
                a->out.c_str());
  };

  // --- neighbors -----------------------------------------------------------------------------
  CLI::App* nb = w2v->add_subcommand("neighbors", "the words nearest to a word (cosine similarity)");
  struct QueryArgs {
    std::string vectors, a, b, c;
    int64_t k = 10;
  };
  auto q = std::make_shared<QueryArgs>();
  nb->add_option("VECTORS", q->vectors, "vectors file (word2vec text format)")->required();
  nb->add_option("WORD", q->a, "the word to look up")->required();
  nb->add_option("-k", q->k, "how many neighbours")->check(CLI::PositiveNumber)->capture_default_str();
  actions()[nb] = [q] {
    const std::string where = "attn word2vec neighbors";
    const train::KeyedVectors kv = load_vectors(q->vectors, where + " VECTORS");
    require_word(kv, q->a, where);
    print_scored(kv.most_similar(q->a, q->k));
  };

  // --- analogy -------------------------------------------------------------------------------
  CLI::App* an = w2v->add_subcommand("analogy", "A is to B as C is to ? (3CosAdd: nearest to B - A + C)");
  auto qa = std::make_shared<QueryArgs>();
  qa->k = 5;
  an->add_option("VECTORS", qa->vectors, "vectors file (word2vec text format)")->required();
  an->add_option("A", qa->a, "")->required();
  an->add_option("B", qa->b, "")->required();
  an->add_option("C", qa->c, "")->required();
  an->add_option("-k", qa->k, "how many answers")->check(CLI::PositiveNumber)->capture_default_str();
  actions()[an] = [qa] {
    const std::string where = "attn word2vec analogy";
    const train::KeyedVectors kv = load_vectors(qa->vectors, where + " VECTORS");
    for (const std::string* w : {&qa->a, &qa->b, &qa->c}) require_word(kv, *w, where);
    print_scored(kv.analogy(qa->a, qa->b, qa->c, qa->k));
  };

  // `word2vec` itself runs the sub-subcommand that was parsed.
  actions()[w2v] = [w2v] {
    for (CLI::App* sub : w2v->get_subcommands()) run(*sub);
  };
}

}  // namespace attn::cli
