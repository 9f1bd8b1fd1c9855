// Makes the bundled Tatoeba subsets in data/ from the full manythings files, with attn's own
// reader and filter (attn/data/tatoeba.h, attn/data/text.h). Output lines are input lines,
// byte for byte (attribution column included), in file order.
//
//   prepare_tatoeba tutorial eng-fra.txt data/eng-fra.tutorial.tsv [max_length=10]
//       the pairs the PyTorch seq2seq tutorial trains on: tutorial_filter on the normalised text
//   prepare_tatoeba short cmn.txt data/cmn-eng.small.tsv [max_pairs=5000] [max_length=10]
//       the first max_pairs pairs whose normalised English side has fewer than max_length words
#include <cstdlib>
#include <iostream>
#include <string>

#include "attn/core/error.h"
#include "attn/data/tatoeba.h"
#include "attn/data/text.h"

using namespace attn::data;

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (argc < 4 || (mode != "tutorial" && mode != "short")) {
    std::cerr << "usage: prepare_tatoeba tutorial <eng-fra.txt> <out.tsv> [max_length=10]\n"
                 "       prepare_tatoeba short <cmn.txt> <out.tsv> [max_pairs=5000] [max_length=10]\n";
    return 2;
  }
  try {
    ReadOptions o;
    o.normalize = Normalization::kNone;  // keep the bytes; the filters judge the normalised form
    Corpus c;
    if (mode == "tutorial") {
      o.tutorial_filter = true;
      if (argc > 4) o.max_length = std::atoll(argv[4]);
      c = read_tatoeba(argv[2], o);
    } else {
      const int64_t max_pairs = argc > 4 ? std::atoll(argv[4]) : 5000;
      const int64_t max_length = argc > 5 ? std::atoll(argv[5]) : 10;
      Corpus all = read_tatoeba(argv[2], o);
      c.report = all.report;
      for (auto& p : all.pairs) {
        if (int64_t(c.pairs.size()) >= max_pairs) break;
        if (count_words(normalize_string(p.src)) < max_length) c.pairs.push_back(std::move(p));
      }
    }
    write_tatoeba(argv[3], c.pairs);
    std::cerr << c.report.summary() << "\nwrote " << c.pairs.size() << " pairs to " << argv[3] << "\n";
  } catch (const attn::Error& e) {
    std::cerr << "prepare_tatoeba: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
