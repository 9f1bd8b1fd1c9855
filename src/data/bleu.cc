// BLEU as sacreBLEU 2.x computes it (see include/attn/data/bleu.h). The tokenisers reproduce
// sacreBLEU's Python regular expressions with hand-written scanners: each rule is one left-to-right
// pass with Python re.sub's non-overlapping matches. They work on UTF-8 bytes, which gives the
// same result as Python's code points because every rule tests only ASCII characters on one side
// of the match and "not a digit" on the other (any byte of a multi-byte character is not a digit).
#include "attn/data/bleu.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string_view>
#include <unordered_map>

#include "attn/core/error.h"

namespace attn::data {
namespace {

// --- UTF-8 ----------------------------------------------------------------------------------------

// Decodes the code point at s[i]; returns its length in bytes. An invalid byte decodes to itself
// (length 1) so that malformed input still tokenises deterministically.
size_t decode_utf8(std::string_view s, size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  auto cont = [&](size_t k) { return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80; };
  auto bits = [&](size_t k) { return char32_t(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0 && cont(1)) {
    cp = (char32_t(b0 & 0x1F) << 6) | bits(1);
    return 2;
  }
  if ((b0 & 0xF0) == 0xE0 && cont(1) && cont(2)) {
    cp = (char32_t(b0 & 0x0F) << 12) | (bits(1) << 6) | bits(2);
    return 3;
  }
  if ((b0 & 0xF8) == 0xF0 && cont(1) && cont(2) && cont(3)) {
    cp = (char32_t(b0 & 0x07) << 18) | (bits(1) << 12) | (bits(2) << 6) | bits(3);
    return 4;
  }
  cp = b0;
  return 1;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

// The characters Python's str.split() / str.strip() treat as whitespace.
bool is_py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Python's line.split(): maximal runs of non-whitespace.
std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0, start = std::string_view::npos;
  while (i < s.size()) {
    char32_t cp;
    const size_t len = decode_utf8(s, i, cp);
    if (is_py_space(cp)) {
      if (start != std::string_view::npos) out.push_back(s.substr(start, i - start));
      start = std::string_view::npos;
    } else if (start == std::string_view::npos) {
      start = i;
    }
    i += len;
  }
  if (start != std::string_view::npos) out.push_back(s.substr(start));
  return out;
}

// ' '.join(line.split())
std::string join_ws(std::string_view s) {
  std::string out;
  for (std::string_view w : split_ws(s)) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

// Python's str.rstrip() / str.strip().
std::string_view rstrip(std::string_view s) {
  // Walk forward remembering the end of the last non-space character (UTF-8 cannot be decoded
  // backwards without care, and lines are short).
  size_t i = 0, end = 0;
  while (i < s.size()) {
    char32_t cp;
    const size_t len = decode_utf8(s, i, cp);
    i += len;
    if (!is_py_space(cp)) end = i;
  }
  return s.substr(0, end);
}
std::string_view strip(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    const size_t len = decode_utf8(s, i, cp);
    if (!is_py_space(cp)) break;
    i += len;
  }
  return rstrip(s.substr(i));
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (s.find(from) == std::string::npos) return;
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size()) {
    out.append(s, pos, hit - pos);
    out += to;
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_period_comma(char c) { return c == '.' || c == ','; }

// --- mteval-v13a regular expressions (sacreBLEU's TokenizerRegexp) -------------------------------

// re.sub(r'([\{-\~\[-\` -\&\(-\+\:-\@\/])', r' \1 ', line): the ASCII punctuation and symbols
// { | } ~ [ \ ] ^ _ ` space ! " # $ % & ( ) * + : ; < = > ? @ / — everything except ' - . , and
// alphanumerics.
bool is_13a_symbol(char c) {
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= ':' && c <= '@') || c == '/';
}

std::string apply_regexp_rules(std::string_view line) {
  // Rule 1: pad symbols.
  std::string a;
  a.reserve(line.size() * 2);
  for (char c : line) {
    if (is_13a_symbol(c)) {
      a += ' ';
      a += c;
      a += ' ';
    } else {
      a += c;
    }
  }
  // Rule 2: r'([^0-9])([\.,])' -> r'\1 \2 ' (period and comma unless preceded by a digit).
  std::string b;
  b.reserve(a.size() * 2);
  for (size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && is_period_comma(a[i + 1])) {
      b += a[i];
      b += ' ';
      b += a[i + 1];
      b += ' ';
      i += 2;
    } else {
      b += a[i++];
    }
  }
  // Rule 3: r'([\.,])([^0-9])' -> r' \1 \2' (period and comma unless followed by a digit).
  std::string c;
  c.reserve(b.size() * 2);
  for (size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && is_period_comma(b[i]) && !is_digit(b[i + 1])) {
      c += ' ';
      c += b[i];
      c += ' ';
      c += b[i + 1];
      i += 2;
    } else {
      c += b[i++];
    }
  }
  // Rule 4: r'([0-9])(-)' -> r'\1 \2 ' (dash after a digit).
  std::string d;
  d.reserve(c.size() * 2);
  for (size_t i = 0; i < c.size();) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d += c[i];
      d += " - ";
      i += 2;
    } else {
      d += c[i++];
    }
  }
  return join_ws(d);
}

// sacreBLEU's TokenizerZh._is_chinese_char ranges. Two of its ranges are written '\u20000'..'\u2a6d6'
// and '\u2f800'..'\u2fa1d', which Python reads as two-character strings ('\u2000' + '0', ...); a
// single character c then compares as c > U+2000 and c <= U+2A6D (resp. U+2F81..U+2FA1), so those
// are the ranges sacreBLEU actually uses, reproduced here.
bool is_zh_char(char32_t c) {
  static constexpr char32_t kRanges[][2] = {
      {0x3400, 0x4DB5}, {0x4E00, 0x9FA5}, {0x9FA6, 0x9FBB}, {0xF900, 0xFA2D}, {0xFA30, 0xFA6A}, {0xFA70, 0xFAD9},
      {0x2001, 0x2A6D}, {0x2F81, 0x2FA1}, {0xFF00, 0xFFEF}, {0x2E80, 0x2EFF}, {0x3000, 0x303F}, {0x31C0, 0x31EF},
      {0x2F00, 0x2FDF}, {0x2FF0, 0x2FFF}, {0x3100, 0x312F}, {0x31A0, 0x31BF}, {0xFE10, 0xFE1F}, {0xFE30, 0xFE4F},
      {0x2600, 0x26FF}, {0x2700, 0x27BF}, {0x3200, 0x32FF}, {0x3300, 0x33FF}};
  for (const auto& r : kRanges)
    if (c >= r[0] && c <= r[1]) return true;
  return false;
}

char32_t lower_cp(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c < 0xC0) return c;
  if (c <= 0xDE) return c == 0xD7 ? c : c + 32;  // Latin-1 capitals (not ×)
  if (c >= 0x100 && c <= 0x17F) {                 // Latin Extended-A: alternating capital/small pairs
    if ((c <= 0x137 || (c >= 0x14A && c <= 0x177)) && c % 2 == 0 && c != 0x130) return c + 1;
    if (((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) && c % 2 == 1) return c + 1;
    if (c == 0x178) return 0xFF;  // Ÿ -> ÿ
    return c;
  }
  if (c == 0x386) return 0x3AC;  // Greek capitals with tonos
  if (c >= 0x388 && c <= 0x38A) return c + 37;
  if (c == 0x38C) return 0x3CC;
  if (c == 0x38E || c == 0x38F) return c + 63;
  if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
  if (c >= 0x400 && c <= 0x40F) return c + 80;  // Cyrillic
  if (c >= 0x410 && c <= 0x42F) return c + 32;
  return c;
}

// --- statistics ------------------------------------------------------------------------------------

const char* const kTokenizers[] = {"13a", "zh", "char", "none"};
const char* const kSmoothing[] = {"exp", "floor", "add-k", "none"};

void check_options(const BleuOptions& o) {
  ATTN_CHECK(std::find_if(std::begin(kTokenizers), std::end(kTokenizers),
                          [&](const char* t) { return o.tokenize == t; }) != std::end(kTokenizers),
             "bleu: unknown tokenize '", o.tokenize, "' (expected 13a, zh, char or none)");
  ATTN_CHECK(std::find_if(std::begin(kSmoothing), std::end(kSmoothing),
                          [&](const char* t) { return o.smooth_method == t; }) != std::end(kSmoothing),
             "bleu: unknown smooth_method '", o.smooth_method, "' (expected exp, floor, add-k or none)");
  ATTN_CHECK(o.max_ngram_order >= 1, "bleu: max_ngram_order must be >= 1, got ", o.max_ngram_order);
}

std::string preprocess(const std::string& line, const BleuOptions& o) {
  // sacreBLEU: sent.lower() if lowercase, then tokenizer(sent.rstrip()).
  const std::string lowered = o.lowercase ? lowercase_utf8(line) : std::string();
  std::string_view s = rstrip(o.lowercase ? std::string_view(lowered) : std::string_view(line));
  if (o.tokenize == "13a") return tokenize_13a(std::string(s));
  if (o.tokenize == "zh") return tokenize_zh(std::string(s));
  if (o.tokenize == "char") return tokenize_char(std::string(s));
  return std::string(s);
}

using NgramCounts = std::unordered_map<std::string, int64_t>;

// All n-grams of orders 1..max_order, keyed by their tokens joined with ' ' (tokens never contain
// whitespace, so the key is unambiguous).
NgramCounts count_ngrams(const std::vector<std::string_view>& tokens, int64_t max_order) {
  NgramCounts counts;
  const int64_t len = int64_t(tokens.size());
  for (int64_t i = 0; i < len; ++i) {
    std::string key;
    for (int64_t n = 1; n <= max_order && i + n <= len; ++n) {
      if (n > 1) key += ' ';
      key += tokens[size_t(i + n - 1)];
      ++counts[key];
    }
  }
  return counts;
}

int64_t order_of(const std::string& key) { return 1 + std::count(key.begin(), key.end(), ' '); }

BleuScore compute(const std::vector<std::string>& hypotheses, const std::vector<std::vector<std::string>>& streams,
                  const BleuOptions& o) {
  check_options(o);
  ATTN_CHECK(!streams.empty(), "corpus_bleu: at least one reference stream is needed");
  for (size_t k = 0; k < streams.size(); ++k)
    ATTN_CHECK(streams[k].size() == hypotheses.size(), "corpus_bleu: ", hypotheses.size(), " hypotheses but ",
               streams[k].size(), " references in reference stream ", k);
  const int64_t N = o.max_ngram_order;
  std::vector<int64_t> correct(size_t(N), 0), total(size_t(N), 0);
  int64_t sys_len = 0, ref_len = 0;

  for (size_t i = 0; i < hypotheses.size(); ++i) {
    const std::string hyp = preprocess(hypotheses[i], o);
    const auto hyp_tokens = split_ws(hyp);
    const int64_t hyp_len = int64_t(hyp_tokens.size());
    // Clipping counts: the maximum count of each n-gram over the references; effective reference
    // length: the closest to the hypothesis length, the shorter one on ties.
    NgramCounts ref_max;
    int64_t closest_diff = -1, closest_len = -1;
    for (const auto& stream : streams) {
      const std::string ref = preprocess(stream[i], o);
      const auto ref_tokens = split_ws(ref);
      const int64_t len = int64_t(ref_tokens.size());
      const int64_t diff = std::abs(hyp_len - len);
      if (closest_diff == -1 || diff < closest_diff) {
        closest_diff = diff;
        closest_len = len;
      } else if (diff == closest_diff) {
        closest_len = std::min(closest_len, len);
      }
      for (const auto& [key, count] : count_ngrams(ref_tokens, N)) {
        int64_t& m = ref_max[key];
        m = std::max(m, count);
      }
    }
    sys_len += hyp_len;
    ref_len += closest_len;
    for (const auto& [key, count] : count_ngrams(hyp_tokens, N)) {
      const auto it = ref_max.find(key);
      if (it != ref_max.end()) correct[size_t(order_of(key) - 1)] += std::min(count, it->second);
    }
    for (int64_t n = 1; n <= N; ++n) total[size_t(n - 1)] += std::max<int64_t>(0, hyp_len - n + 1);
  }

  // sacreBLEU's BLEU.compute_bleu.
  BleuScore r;
  r.counts = correct;
  r.totals = total;
  r.sys_len = sys_len;
  r.ref_len = ref_len;
  r.ratio = ref_len > 0 ? double(sys_len) / double(ref_len) : 0.0;
  r.bp = sys_len < ref_len ? (sys_len > 0 ? std::exp(1.0 - double(ref_len) / double(sys_len)) : 0.0) : 1.0;
  r.precisions.assign(size_t(N), 0.0);
  if (std::all_of(correct.begin(), correct.end(), [](int64_t c) { return c == 0; })) return r;

  const double value = o.smooth_value ? *o.smooth_value : (o.smooth_method == "floor" ? 0.1 : 1.0);
  double smooth_mteval = 1.0;
  int64_t eff_order = N;
  for (int64_t n = 1; n <= N; ++n) {
    double c = double(correct[size_t(n - 1)]), t = double(total[size_t(n - 1)]);
    if (o.smooth_method == "add-k" && n > 1) {
      c += value;
      t += value;
    }
    if (t == 0) break;
    if (o.effective_order) eff_order = n;
    double& p = r.precisions[size_t(n - 1)];
    if (c == 0) {
      if (o.smooth_method == "exp") {
        smooth_mteval *= 2;
        p = 100.0 / (smooth_mteval * t);
      } else if (o.smooth_method == "floor") {
        p = 100.0 * value / t;
      }
    } else {
      p = 100.0 * c / t;
    }
  }
  // log(0) is replaced by -9999999999 as in sacreBLEU's my_log, which drives the score to 0.
  double log_sum = 0.0;
  for (int64_t n = 0; n < eff_order; ++n) {
    const double p = r.precisions[size_t(n)];
    log_sum += p == 0.0 ? -9999999999.0 : std::log(p);
  }
  r.score = r.bp * std::exp(log_sum / double(eff_order));
  return r;
}

}  // namespace

std::string tokenize_13a(const std::string& line) {
  // The language-independent part of mteval-v13a, then the regexp rules on ' ' + line + ' '.
  std::string s = line;
  replace_all(s, "<skipped>", "");
  replace_all(s, "-\n", "");
  replace_all(s, "\n", " ");
  if (s.find('&') != std::string::npos) {
    replace_all(s, "&quot;", "\"");
    replace_all(s, "&amp;", "&");
    replace_all(s, "&lt;", "<");
    replace_all(s, "&gt;", ">");
  }
  return apply_regexp_rules(" " + s + " ");
}

std::string tokenize_zh(const std::string& line) {
  const std::string_view s = strip(line);
  std::string spaced;
  spaced.reserve(s.size() * 2);
  for (size_t i = 0; i < s.size();) {
    char32_t cp;
    const size_t len = decode_utf8(s, i, cp);
    const bool zh = is_zh_char(cp);
    if (zh) spaced += ' ';
    spaced.append(s.substr(i, len));
    if (zh) spaced += ' ';
    i += len;
  }
  return apply_regexp_rules(spaced);
}

std::string tokenize_char(const std::string& line) {
  std::string out;
  for (size_t i = 0; i < line.size();) {
    char32_t cp;
    const size_t len = decode_utf8(line, i, cp);
    if (!is_py_space(cp)) {
      if (!out.empty()) out += ' ';
      out.append(line, i, len);
    }
    i += len;
  }
  return out;
}

std::string lowercase_utf8(const std::string& line) {
  std::string out;
  out.reserve(line.size());
  for (size_t i = 0; i < line.size();) {
    char32_t cp;
    const size_t len = decode_utf8(line, i, cp);
    const char32_t lo = lower_cp(cp);
    if (lo == cp) out.append(line, i, len);  // also keeps invalid bytes as they were
    else append_utf8(out, lo);
    i += len;
  }
  return out;
}

std::string BleuScore::format(int width) const {
  std::string prec;
  char buf[64];
  for (size_t n = 0; n < precisions.size(); ++n) {
    std::snprintf(buf, sizeof buf, "%s%.1f", n ? "/" : "", precisions[n]);
    prec += buf;
  }
  char line[256];
  std::snprintf(line, sizeof line, "BLEU = %.*f %s (BP = %.3f ratio = %.3f hyp_len = %lld ref_len = %lld)", width,
                score, prec.c_str(), bp, ratio, static_cast<long long>(sys_len), static_cast<long long>(ref_len));
  return line;
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references,
                      const BleuOptions& options) {
  return compute(hypotheses, {references}, options);
}

BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::vector<std::string>>& reference_streams, const BleuOptions& options) {
  return compute(hypotheses, reference_streams, options);
}

BleuOptions sentence_bleu_defaults() {
  BleuOptions o;
  o.effective_order = true;
  return o;
}

BleuScore sentence_bleu(const std::string& hypothesis, const std::vector<std::string>& references,
                        const BleuOptions& options) {
  ATTN_CHECK(!references.empty(), "sentence_bleu: at least one reference is needed");
  std::vector<std::vector<std::string>> streams;
  for (const auto& r : references) streams.push_back({r});
  return compute({hypothesis}, streams, options);
}

}  // namespace attn::data
