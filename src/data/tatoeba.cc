// Tatoeba TSV reader of attn/data/tatoeba.h.
#include "attn/data/tatoeba.h"

#include <fstream>
#include <sstream>
#include <unordered_set>

#include "attn/core/error.h"
#include "attn/data/text.h"
#include "data/utf8.h"

namespace attn::data {

namespace {

void add_issue(ReadReport& r, int64_t line, std::string reason) {
  if (r.issues.size() < ReadReport::kMaxIssues) r.issues.push_back({line, std::move(reason)});
}

std::vector<std::string_view> split_tabs(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    const size_t tab = line.find('\t', start);
    fields.push_back(line.substr(start, tab == std::string_view::npos ? std::string_view::npos : tab - start));
    if (tab == std::string_view::npos) break;
    start = tab + 1;
  }
  return fields;
}

std::string apply(Normalization n, std::string_view s) {
  switch (n) {
    case Normalization::kNone: return std::string(s);
    case Normalization::kClean: return clean_text(s);
    case Normalization::kTutorial: return normalize_string(s);
  }
  return std::string(s);
}

}  // namespace

std::string ReadReport::summary() const {
  std::ostringstream os;
  os << source << ": " << pairs << " pairs from " << lines << " lines";
  if (malformed() > 0) {
    os << "; skipped " << malformed() << " malformed (" << missing_tab << " without TAB, " << too_many_fields
       << " with more than 3 fields, " << invalid_utf8 << " invalid UTF-8, " << empty_side << " with an empty side)";
  }
  if (empty_after_normalize > 0) os << "; " << empty_after_normalize << " empty after normalisation";
  if (filtered_out > 0) os << "; " << filtered_out << " removed by the filter";
  if (duplicates > 0) os << "; " << duplicates << " duplicates dropped";
  if (blank_lines > 0) os << "; " << blank_lines << " blank lines";
  if (crlf_lines > 0) os << "; " << crlf_lines << " CRLF line endings";
  if (had_bom) os << "; UTF-8 BOM";
  if (stopped_at_max_pairs) os << "; stopped at max_pairs";
  for (const auto& i : issues) os << "\n  line " << i.line << ": " << i.reason;
  const int64_t listed = int64_t(issues.size()), skipped = malformed() + empty_after_normalize;
  if (skipped > listed) os << "\n  (" << skipped - listed << " more skipped lines not listed)";
  return os.str();
}

Corpus parse_tatoeba(std::istream& in, const std::string& source, const ReadOptions& opt) {
  ATTN_CHECK(opt.max_pairs >= 0, "read_tatoeba: max_pairs must be >= 0 (0 = no limit), got ", opt.max_pairs);
  ATTN_CHECK(opt.max_length >= 1, "read_tatoeba: max_length must be >= 1, got ", opt.max_length);
  Corpus c;
  ReadReport& r = c.report;
  r.source = source;
  std::unordered_set<std::string> seen;
  std::string line;
  while (std::getline(in, line)) {
    const int64_t no = ++r.lines;
    std::string_view v = line;
    if (no == 1 && v.starts_with("\xEF\xBB\xBF")) {
      r.had_bom = true;
      v.remove_prefix(3);
    }
    if (v.ends_with('\r')) {
      ++r.crlf_lines;
      v.remove_suffix(1);
    }
    if (v.empty()) {
      ++r.blank_lines;
      continue;
    }
    size_t bad = 0;
    if (!is_valid_utf8(v, &bad)) {
      ++r.invalid_utf8;
      add_issue(r, no, attn::detail::str_cat("invalid UTF-8 at byte ", bad + 1));
      continue;
    }
    const auto fields = split_tabs(v);
    if (fields.size() < 2) {
      ++r.missing_tab;
      add_issue(r, no, "no TAB separator (expected english<TAB>other[<TAB>attribution])");
      continue;
    }
    if (fields.size() > 3) {
      ++r.too_many_fields;
      add_issue(r, no, attn::detail::str_cat(fields.size(), " TAB-separated fields (expected 2 or 3)"));
      continue;
    }
    const std::string_view english = fields[0], other = fields[1];
    if (detail::is_blank(english) || detail::is_blank(other)) {
      ++r.empty_side;
      add_issue(r, no, detail::is_blank(english) ? "empty English side (column 1)" : "empty second side (column 2)");
      continue;
    }
    // The filter always judges the tutorial form; reuse it when that is also what is returned.
    std::string e = apply(opt.normalize, english), o = apply(opt.normalize, other);
    if (e.empty() || o.empty()) {
      ++r.empty_after_normalize;
      add_issue(r, no, attn::detail::str_cat("a side is empty after normalisation (\"", e.empty() ? english : other, "\")"));
      continue;
    }
    if (opt.tutorial_filter) {
      const bool keep = opt.normalize == Normalization::kTutorial
                            ? tutorial_filter(e, o, opt.max_length)
                            : tutorial_filter(normalize_string(english), normalize_string(other), opt.max_length);
      if (!keep) {
        ++r.filtered_out;
        continue;
      }
    }
    SentencePair p;
    p.src = std::move(opt.reverse ? o : e);
    p.tgt = std::move(opt.reverse ? e : o);
    if (fields.size() == 3) p.attribution = std::string(fields[2]);
    p.line = no;
    if (opt.drop_duplicates && !seen.insert(p.src + '\t' + p.tgt).second) {
      ++r.duplicates;
      continue;
    }
    c.pairs.push_back(std::move(p));
    if (opt.max_pairs > 0 && int64_t(c.pairs.size()) >= opt.max_pairs) {
      r.stopped_at_max_pairs = true;
      break;
    }
  }
  ATTN_CHECK(!in.bad(), "read_tatoeba: I/O error while reading '", source, "' at line ", r.lines + 1);
  r.pairs = int64_t(c.pairs.size());
  ATTN_CHECK(!c.pairs.empty(), "read_tatoeba: no sentence pairs in '", source, "' (", r.summary(), ")");
  return c;
}

Corpus read_tatoeba(const std::string& path, const ReadOptions& opt) {
  std::ifstream in(path, std::ios::binary);
  ATTN_CHECK(in.is_open(), "read_tatoeba: cannot open '", path, "' (missing file or no read permission)");
  return parse_tatoeba(in, path, opt);
}

void write_tatoeba(const std::string& path, const std::vector<SentencePair>& pairs) {
  std::ofstream out(path, std::ios::binary);
  ATTN_CHECK(out.is_open(), "write_tatoeba: cannot open '", path, "' for writing");
  for (const auto& p : pairs) {
    out << p.src << '\t' << p.tgt;
    if (!p.attribution.empty()) out << '\t' << p.attribution;
    out << '\n';
  }
  out.close();
  ATTN_CHECK(!out.fail(), "write_tatoeba: error while writing '", path, "'");
}

}  // namespace attn::data
