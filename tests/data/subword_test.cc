// SentencePiece (data/subword.h): unigram and BPE models trained on the bundled English-French
// corpus (first 2000 pairs, both sides): exact round trips, determinism, save/load and its errors,
// the piece / Vocab layout, CJK coverage, rare-word splitting, option errors, and an independent
// check against SentencePiece's own command-line tools or Python module when one is installed.
#include "attn/data/subword.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "test_util.h"

namespace attn::data {
namespace {

const std::string kDataDir = std::string(ATTN_SOURCE_DIR) + "/data/";

// Column `col` (or both when col < 0) of the first `max_lines` lines of a tab-separated file.
std::vector<std::string> read_column(const std::string& file, size_t max_lines, int col) {
  std::ifstream in(kDataDir + file);
  EXPECT_TRUE(in.is_open()) << file;
  std::vector<std::string> out;
  std::string line;
  for (size_t n = 0; n < max_lines && std::getline(in, line); ++n) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    for (std::string c; std::getline(ss, c, '\t');) cols.push_back(c);
    for (int c = 0; c < 2 && c < int(cols.size()); ++c)
      if (col < 0 || c == col) out.push_back(cols[size_t(c)]);
  }
  return out;
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> s = read_column("eng-fra.tutorial.tsv", 2000, -1);
  return s;
}

SentencePieceOptions opts(const std::string& type, const std::string& norm = "nmt_nfkc", int64_t vocab = 500) {
  SentencePieceOptions o;
  o.model_type = type;
  o.normalization = norm;
  o.vocab_size = vocab;
  return o;
}

// Trained once per process (a training takes ~0.1-0.3 s).
const SentencePiece& model(const std::string& type, const std::string& norm) {
  static std::map<std::string, SentencePiece> cache;
  const std::string key = type + "/" + norm;
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, SentencePiece::train(corpus(), opts(type, norm))).first;
  return it->second;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("attn_subword_test_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
  return s;
}

const std::vector<std::string> kTypes = {"unigram", "bpe"};

TEST(SentencePiece, IdentityRoundTripIsExact) {
  for (const auto& type : kTypes) {
    const SentencePiece& m = model(type, "identity");
    size_t bad = 0;
    for (const auto& s : corpus()) {
      const std::string back = m.decode(m.encode(s));
      if (back != s && bad++ < 3) ADD_FAILURE() << type << ": \"" << s << "\" came back as \"" << back << "\"";
    }
    EXPECT_EQ(bad, 0u) << type;
    // identity keeps whitespace runs, leading and trailing spaces too.
    for (const std::string s : {"  she  is   here. ", "x", " Tu es fou\u202f!"})
      EXPECT_EQ(m.decode(m.encode(s)), s) << type;
    EXPECT_TRUE(m.encode("").empty());
    EXPECT_EQ(m.decode({}), "");
  }
}

TEST(SentencePiece, NmtNfkcRoundTripGivesTheNormalisedText) {
  // Reference: Python's unicodedata.normalize("NFKC", s) differs from s on this corpus only for
  // the 11 sentences with U+202F (narrow no-break space before "!" / "?"), which NFKC maps to a
  // plain space; nmt_nfkc is NFKC plus whitespace squeezing.
  for (const auto& type : kTypes) {
    const SentencePiece& m = model(type, "nmt_nfkc");
    size_t bad = 0, changed = 0;
    for (const auto& s : corpus()) {
      const std::string want = replace_all(s, "\u202f", " ");
      changed += want != s;
      const std::string back = m.decode(m.encode(s));
      if (back != want && bad++ < 3) ADD_FAILURE() << type << ": \"" << s << "\" came back as \"" << back << "\"";
    }
    EXPECT_EQ(bad, 0u) << type;
    EXPECT_EQ(changed, 11u);
    // Compatibility forms fold (ligature, full-width letters); whitespace runs squeeze.
    EXPECT_EQ(m.decode(m.encode("\uFB01ne")), "fine") << type;
    EXPECT_EQ(m.decode(m.encode("\uFF28\uFF49.")), "Hi.") << type;
    EXPECT_EQ(m.decode(m.encode("  she  is   here. ")), "she is here.") << type;
  }
}

TEST(SentencePiece, TrainingIsDeterministic) {
  for (const auto& type : kTypes) {
    const SentencePiece a = SentencePiece::train(corpus(), opts(type, "identity"));
    const SentencePiece b = SentencePiece::train(corpus(), opts(type, "identity"));
    EXPECT_EQ(a.serialized(), b.serialized()) << type;
    EXPECT_EQ(a.serialized(), model(type, "identity").serialized()) << type;
    // Empty sentences are ignored, not counted.
    std::vector<std::string> with_empty = corpus();
    with_empty.insert(with_empty.begin() + 10, "");
    with_empty.push_back("");
    EXPECT_EQ(SentencePiece::train(with_empty, opts(type, "identity")).serialized(), a.serialized()) << type;
  }
}

TEST(SentencePiece, PiecesAndVocabLayout) {
  for (const auto& type : kTypes) {
    const SentencePiece& m = model(type, "nmt_nfkc");
    const auto& p = m.pieces();
    ASSERT_EQ(m.vocab_size(), 500) << type;
    ASSERT_EQ(p.size(), 500u) << type;
    EXPECT_EQ(p[0], "<unk>");
    EXPECT_EQ(std::set<std::string>(p.begin(), p.end()).size(), p.size()) << type << ": duplicate pieces";
    for (const std::string s : {"<s>", "</s>", "<pad>", "<bos>", "<eos>"})  // no bos/eos/pad in the model
      EXPECT_EQ(std::count(p.begin(), p.end(), s), 0) << type << " " << s;
    EXPECT_NE(std::count(p.begin(), p.end(), "\u2581"), 0) << type << ": the word-start piece";

    const Vocab v = vocab_for(m);
    ASSERT_EQ(v.size(), Vocab::kNumSpecials + 499) << type;
    for (int64_t i = 0; i < Vocab::kNumSpecials; ++i) EXPECT_EQ(v.token(i), Vocab::specials()[size_t(i)]);
    for (size_t i = 1; i < p.size(); ++i) EXPECT_EQ(v.token(Vocab::kNumSpecials + int64_t(i) - 1), p[i]);
    EXPECT_EQ(v.id("<unk>"), Vocab::kUnk);
    for (int64_t i = 0; i < v.size(); ++i) EXPECT_EQ(v.count(i), 0);

    // Text -> pieces -> ids -> pieces -> text; every training character is covered (coverage 1.0),
    // so no <unk> appears.
    size_t bad = 0;
    for (size_t i = 0; i < corpus().size(); i += 7) {
      const std::string& s = corpus()[i];
      const auto ids = v.encode(m.encode(s), true, true);
      if (std::count(ids.begin(), ids.end(), Vocab::kUnk) && bad++ < 3) ADD_FAILURE() << type << ": <unk> in " << s;
      const std::string back = m.decode(v.decode(ids));
      if (back != replace_all(s, "\u202f", " ") && bad++ < 3) ADD_FAILURE() << type << ": " << s << " -> " << back;
    }
    EXPECT_EQ(bad, 0u) << type;
  }
}

TEST(SentencePiece, RareWordsAreSplitIntoKnownPieces) {
  for (const auto& type : kTypes) {
    const SentencePiece& m = model(type, "nmt_nfkc");
    const std::set<std::string> known(m.pieces().begin(), m.pieces().end());
    for (const std::string word : {"unbelievably", "anticonstitutionnellement", "Zorblax"}) {
      const auto p = m.encode(word);
      EXPECT_GE(p.size(), 3u) << type << " " << word;
      for (const auto& piece : p) EXPECT_TRUE(known.count(piece)) << type << " " << word << ": " << piece;
      ASSERT_FALSE(p.empty());
      EXPECT_EQ(p[0].rfind("\u2581", 0), 0u) << type << ": the first piece carries the word start";
      EXPECT_EQ(m.decode(p), word);
    }
  }
}

TEST(SentencePiece, ChineseIsCoveredWithFullCharacterCoverage) {
  const auto zh = read_column("cmn-eng.small.tsv", 1000, 1);
  std::set<std::string> chars;  // distinct UTF-8 characters
  for (const auto& s : zh)
    for (size_t i = 0; i < s.size();) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      const size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
      chars.insert(s.substr(i, n));
      i += n;
    }
  ASSERT_GT(chars.size(), 500u);
  for (const auto& type : kTypes) {
    SentencePieceOptions o = opts(type, "nmt_nfkc", int64_t(chars.size()) + 100);
    o.character_coverage = 1.0;
    const SentencePiece m = SentencePiece::train(zh, o);
    const Vocab v = vocab_for(m);
    size_t unk = 0;
    for (const auto& s : zh) {
      const auto ids = v.encode(m.encode(s));
      unk += size_t(std::count(ids.begin(), ids.end(), Vocab::kUnk));
      EXPECT_EQ(m.decode(m.encode(s)), m.decode(v.decode(ids))) << type;
    }
    EXPECT_EQ(unk, 0u) << type;
    // With partial coverage the rarest characters are left out: they reach the Vocab as <unk>,
    // and decode through ids shows SentencePiece's unknown mark.
    o.character_coverage = 0.98;
    const SentencePiece partial = SentencePiece::train(zh, o);
    const Vocab pv = vocab_for(partial);
    std::string with_unk;
    for (const auto& s : zh) {
      const auto ids = pv.encode(partial.encode(s));
      if (std::count(ids.begin(), ids.end(), Vocab::kUnk)) {
        with_unk = partial.decode(pv.decode(ids));
        EXPECT_EQ(partial.decode(partial.encode(s)), s) << type << ": pieces keep uncovered text";
        break;
      }
    }
    EXPECT_NE(with_unk.find("\u2047"), std::string::npos) << type << ": " << with_unk;
  }
}

TEST(SentencePiece, DecodeSkipsAttnSpecials) {
  const SentencePiece& m = model("bpe", "nmt_nfkc");
  auto p = m.encode("I am here.");
  const std::string plain = m.decode(p);
  EXPECT_EQ(plain, "I am here.");
  p.insert(p.begin(), "<bos>");
  p.push_back("<eos>");
  p.push_back("<pad>");
  EXPECT_EQ(m.decode(p), plain);
  EXPECT_EQ(m.decode({"\u2581I", "<unk>", "."}), "I \u2047 .");
}

TEST(SentencePiece, SaveLoadRoundTrip) {
  const SentencePiece& m = model("unigram", "nmt_nfkc");
  const std::string path = temp_path("m.model");
  m.save(path);
  m.save(path);  // overwriting an existing model is fine
  const SentencePiece l = SentencePiece::load(path);
  EXPECT_EQ(l.serialized(), m.serialized());
  EXPECT_EQ(l.pieces(), m.pieces());
  for (size_t i = 0; i < corpus().size(); i += 97) EXPECT_EQ(l.encode(corpus()[i]), m.encode(corpus()[i]));
  EXPECT_EQ(SentencePiece::from_serialized(m.serialized()).pieces(), m.pieces());
  // No temporary file is left beside the model.
  const auto dir = std::filesystem::path(path).parent_path();
  const std::string stem = std::filesystem::path(path).filename().string();
  for (const auto& e : std::filesystem::directory_iterator(dir))
    EXPECT_FALSE(e.path().filename().string().rfind(stem + ".tmp", 0) == 0) << e.path();

  // Copies and moves keep the model.
  SentencePiece c = l;
  EXPECT_EQ(c.serialized(), m.serialized());
  SentencePiece moved = std::move(c);
  EXPECT_EQ(moved.encode("Je suis ici."), m.encode("Je suis ici."));
  c = moved;
  EXPECT_EQ(c.pieces(), m.pieces());
  std::filesystem::remove(path);
}

TEST(SentencePiece, LoadErrorsNameTheFile) {
  const std::string missing = temp_path("missing.model");
  testing::expect_error([&] { SentencePiece::load(missing); }, {missing, "cannot open"});

  testing::expect_error([&] { SentencePiece::load(std::filesystem::temp_directory_path().string()); },
                        {"is a directory"});

  const std::string empty = temp_path("empty.model");
  std::ofstream(empty, std::ios::binary).close();
  testing::expect_error([&] { SentencePiece::load(empty); }, {empty, "empty"});

  const std::string garbage = temp_path("garbage.model");
  std::ofstream(garbage, std::ios::binary) << "this is not a protobuf \xff\xfe\x01\x02";
  testing::expect_error([&] { SentencePiece::load(garbage); }, {garbage, "not a usable SentencePiece model"});

  // A truncated model: the protobuf stops in the middle of a field.
  const std::string bytes = model("bpe", "identity").serialized();
  const std::string truncated = temp_path("truncated.model");
  std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  testing::expect_error([&] { SentencePiece::load(truncated); }, {truncated, "not a usable SentencePiece model"});
  testing::expect_error([&] { SentencePiece::from_serialized(bytes.substr(0, 100), "ckpt/spm"); }, {"ckpt/spm"});

  testing::expect_error([&] { model("bpe", "identity").save("/nonexistent-dir/x.model"); },
                        {"/nonexistent-dir/x.model"});
  for (const auto& p : {empty, garbage, truncated}) std::filesystem::remove(p);
}

TEST(SentencePiece, BadOptionsAndData) {
  const auto& c = corpus();
  for (const auto& type : kTypes)
    testing::expect_error([&] { SentencePiece::train(c, opts(type, "nmt_nfkc", 50000)); },
                          {"vocab_size 50000 is too large", "Please set it to a value <="});
  testing::expect_error([&] { SentencePiece::train(c, opts("word")); }, {"model_type", "word"});
  testing::expect_error([&] { SentencePiece::train(c, opts("bpe", "bogus")); }, {"unknown normalization", "bogus"});
  testing::expect_error([&] { SentencePiece::train(c, opts("bpe", "nmt_nfkc", 1)); }, {"vocab_size", "got 1"});
  for (const auto& type : kTypes)
    testing::expect_error([&] { SentencePiece::train(c, opts(type, "nmt_nfkc", 20)); },
                          {"vocab_size 20 is too small", "required_chars"});
  SentencePieceOptions o = opts("unigram");
  o.character_coverage = 0.0;
  testing::expect_error([&] { SentencePiece::train(c, o); }, {"character_coverage"});
  o = opts("unigram");
  o.max_sentence_length = 0;
  testing::expect_error([&] { SentencePiece::train(c, o); }, {"max_sentence_length"});
  testing::expect_error([&] { SentencePiece::train({"", ""}, opts("bpe")); }, {"no sentences"});
  testing::expect_error([&] { SentencePiece::train({}, opts("bpe")); }, {"no sentences"});
}

// --- Independent check: SentencePiece's own tools read our model and cut the same pieces. ---

bool have_program(const char* name) {
  return std::system((std::string("command -v ") + name + " >/dev/null 2>&1").c_str()) == 0;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

TEST(SentencePiece, AgreesWithSentencePieceTools) {
  const bool cli = have_program("spm_encode");
  const bool python =
      !cli && std::system("/usr/bin/python3 -c 'import sentencepiece' >/dev/null 2>&1") == 0;
  if (!cli && !python)
    GTEST_SKIP() << "neither spm_encode (Debian package sentencepiece) nor Python's sentencepiece module is "
                    "installed; the cross-check against SentencePiece's own tools is skipped";
  const SentencePiece& m = model("unigram", "nmt_nfkc");
  const std::string model_path = temp_path("x.model"), in = temp_path("x.txt"), out = temp_path("x.out");
  m.save(model_path);
  std::vector<std::string> sample;
  for (size_t i = 0; i < corpus().size(); i += 13) sample.push_back(corpus()[i]);
  sample.push_back("Zorblax anticonstitutionnellement");
  {
    std::ofstream f(in);
    for (const auto& s : sample) f << s << "\n";
  }
  std::string cmd;
  if (cli) {
    cmd = "spm_encode --model=" + model_path + " --output_format=piece < " + in + " > " + out + " 2>/dev/null";
  } else {
    cmd = "/usr/bin/python3 -c \"import sys, sentencepiece as s; p = s.SentencePieceProcessor(model_file=sys.argv[1]); "
          "f = open(sys.argv[3], 'w', encoding='utf-8'); "
          "[f.write(' '.join(p.encode(l.rstrip('\\n'), out_type=str)) + '\\n') for l in open(sys.argv[2], encoding='utf-8')]\" " +
          model_path + " " + in + " " + out;
  }
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto got = read_lines(out);
  ASSERT_EQ(got.size(), sample.size());
  for (size_t i = 0; i < sample.size(); ++i) EXPECT_EQ(got[i], join(m.encode(sample[i]))) << sample[i];

  // And spm_train on the same sentences with the same settings learns the same pieces.
  if (cli && have_program("spm_train")) {
    {
      std::ofstream f(in);
      for (const auto& s : corpus()) f << s << "\n";
    }
    const std::string prefix = temp_path("spm_train");
    const std::string train = "spm_train --input=" + in + " --model_prefix=" + prefix +
                              " --vocab_size=500 --model_type=unigram --character_coverage=1 --num_threads=1"
                              " --unk_id=0 --bos_id=-1 --eos_id=-1 --pad_id=-1 --input_sentence_size=0"
                              " --shuffle_input_sentence=false --minloglevel=2 >/dev/null 2>&1";
    ASSERT_EQ(std::system(train.c_str()), 0) << train;
    EXPECT_EQ(SentencePiece::load(prefix + ".model").pieces(), m.pieces());
    std::filesystem::remove(prefix + ".model");
    std::filesystem::remove(prefix + ".vocab");
  }
  for (const auto& p : {model_path, in, out}) std::filesystem::remove(p);
}

}  // namespace
}  // namespace attn::data
