// Reader for Tatoeba sentence-pair files, as published by manythings.org/anki
// (e.g. fra.txt, cmn.txt) and used by the PyTorch seq2seq tutorial (eng-fra.txt):
// one pair per line, `english<TAB>other` or `english<TAB>other<TAB>attribution`.
//
// The reader never crashes on a bad file. A line that is malformed -- no TAB, more than three
// fields, invalid UTF-8, an empty side (after clean-up) -- is skipped, counted in the ReadReport
// and, for the first few, listed with its line number and reason. CRLF line endings and a UTF-8
// BOM are accepted (and counted). A file that cannot be opened, or that yields no pair at all,
// throws attn::Error naming the file.
//
// Typical use (the tutorial's French -> English set):
//   ReadOptions opt;
//   opt.reverse = true;                      // src = French, tgt = English
//   opt.normalize = Normalization::kTutorial;
//   opt.tutorial_filter = true;              // 12,441 pairs of eng-fra.txt
//   Corpus c = read_tatoeba("eng-fra.txt", opt);
//   std::cerr << c.report.summary() << "\n";
//
// What it is not: a general CSV/TSV parser (no quoting; a TAB always separates fields).
#pragma once
#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace attn::data {

// What the reader does to each side's text before returning it.
enum class Normalization {
  kNone,      // bytes exactly as in the file (CR of a CRLF ending removed)
  kClean,     // clean_text (text.h): no-break/thin spaces -> ' ', curly apostrophes -> ', ...
  kTutorial,  // normalize_string (text.h): the tutorial's lowercase ASCII form
};

struct ReadOptions {
  bool reverse = false;  // false: src = column 1 (English), tgt = column 2; true: swapped
  int64_t max_pairs = 0;  // stop after this many kept pairs; 0 = no limit
  Normalization normalize = Normalization::kClean;
  // Keep a pair only when its tutorial-normalised form passes tutorial_filter(english, other,
  // max_length) -- whatever `normalize` returns, the filter judges the normalize_string form,
  // and column 1 is always the English side (so `reverse` does not change which pairs pass).
  bool tutorial_filter = false;
  int64_t max_length = 10;
  // Drop a pair whose (src, tgt), as returned, equals an earlier kept pair's.
  bool drop_duplicates = false;
};

struct SentencePair {
  std::string src, tgt;
  std::string attribution;  // column 3 when present (licence information), else empty
  int64_t line = 0;         // 1-based line number in the file
};

// Why a line was skipped.
struct ReadIssue {
  int64_t line = 0;
  std::string reason;  // e.g. "no TAB separator", "invalid UTF-8 at byte 7", "empty target side"
};

struct ReadReport {
  std::string source;            // the file name (or the name given to parse_tatoeba)
  int64_t lines = 0;             // lines read (all of them, blank ones included)
  int64_t pairs = 0;             // pairs returned
  int64_t blank_lines = 0;       // empty lines: skipped, not counted as malformed
  int64_t missing_tab = 0;       // malformed: a single field
  int64_t too_many_fields = 0;   // malformed: more than 3 fields
  int64_t invalid_utf8 = 0;      // malformed: not well-formed UTF-8
  int64_t empty_side = 0;        // malformed: a side empty (or only whitespace) after clean-up
  int64_t empty_after_normalize = 0;  // kTutorial turned a side into "" (e.g. "19" or "!!")
  int64_t filtered_out = 0;      // rejected by the tutorial filter
  int64_t duplicates = 0;        // dropped by drop_duplicates
  int64_t crlf_lines = 0;        // lines that ended in "\r\n" (accepted)
  bool had_bom = false;          // the file started with a UTF-8 byte-order mark (accepted)
  bool stopped_at_max_pairs = false;  // reading stopped early because of max_pairs
  std::vector<ReadIssue> issues;      // the first kMaxIssues skipped lines, in file order

  static constexpr size_t kMaxIssues = 10;
  int64_t malformed() const { return missing_tab + too_many_fields + invalid_utf8 + empty_side; }
  // One paragraph: counts, then "line N: reason" for the listed issues.
  std::string summary() const;
};

struct Corpus {
  std::vector<SentencePair> pairs;
  ReadReport report;
};

// Reads a file. Throws attn::Error naming `path` when it cannot be opened or no pair survives.
Corpus read_tatoeba(const std::string& path, const ReadOptions& options = {});
// The same on any stream; `source` names it in the report and in errors.
Corpus parse_tatoeba(std::istream& in, const std::string& source, const ReadOptions& options = {});

// Writes pairs back as `src<TAB>tgt[<TAB>attribution]` lines (attribution only when non-empty).
// Throws attn::Error naming `path` when it cannot be written.
void write_tatoeba(const std::string& path, const std::vector<SentencePair>& pairs);

}  // namespace attn::data
