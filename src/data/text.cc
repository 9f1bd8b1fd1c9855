// Normalisation, clean-up, filter and tokenisers of attn/data/text.h.
#include "attn/data/text.h"

#include <algorithm>

#include "data/utf8.h"

namespace attn::data {

using detail::append_utf8;
using detail::decode_utf8;
using detail::is_invisible;
using detail::is_space;
using detail::kInvalidCodePoint;

namespace {

// Base letter of the canonical decomposition (NFD) of each Latin letter, or '_' where NFD leaves
// the character alone (Æ, Ð, Ø, Þ, ß, Đ, Ħ, ı, Ĳ, Ł, Œ, Ŧ, ſ, ƀ, ...) or it is not a letter (×, ÷).
// Those become separators, as in the tutorial. Latin-1 and Extended-A are the hand-written
// tables for European text; Extended-B (pinyin ǎ ǐ ǒ ǔ ǜ, Romanian ș ț) and Extended Additional
// (Vietnamese ạ ế, Welsh ŵ) were read off Unicode's decomposition data (UnicodeData.txt, via
// Python's unicodedata) and are checked code point by code point against it in
// tests/data/text_test.cc (fixture: tools/make_data_fixtures.py).
constexpr std::string_view kLatin1Base =  // U+00C0..U+00FF
    "AAAAAA_CEEEEIIII_NOOOOO__UUUUY__"
    "aaaaaa_ceeeeiiii_nooooo__uuuuy_y";
constexpr std::string_view kLatinExtABase =  // U+0100..U+017F
    "AaAaAaCcCcCcCcDd__EeEeEeEeEeGgGgGgGgHh__IiIiIiIiI___JjKk_LlLlLl__"
    "__NnNnNn___OoOoOo__RrRrRrSsSsSsSsTtTt__UuUuUuUuUuUuWwYyYZzZzZz_";
constexpr std::string_view kLatinExtBBase =  // U+0180..U+024F
    "________________________________Oo_____________Uu_______________"
    "_____________AaIiOoUuUuUuUuUu_AaAa____GgKkOoOo__j___Gg__NnAa____"
    "AaAaEeEeIiIiOoOoRrRrUuUuSsTt__Hh______AaEeOoOoOoOoYy____________"
    "________________";
constexpr std::string_view kLatinExtAdditionalBase =  // U+1E00..U+1EFF
    "AaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIiKkKkKkLlLlLlLlMm"
    "MmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTtTtTtTtUuUuUuUuUuVvVv"
    "WwWwWwWwWwXxXxYyZzZzZzhtwy______AaAaAaAaAaAaAaAaAaAaAaAaEeEeEeEe"
    "EeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuUuUuUuUuUuYyYyYyYy______";
static_assert(kLatin1Base.size() == 0x40 && kLatinExtABase.size() == 0x80 && kLatinExtBBase.size() == 0xD0 &&
              kLatinExtAdditionalBase.size() == 0x100);

// The ASCII letter a code point reduces to under NFD + "drop combining marks", or 0.
char base_letter(char32_t c) {
  char b = '_';
  if (c >= 0xC0 && c <= 0xFF) b = kLatin1Base[c - 0xC0];
  else if (c >= 0x100 && c <= 0x17F) b = kLatinExtABase[c - 0x100];
  else if (c >= 0x180 && c <= 0x24F) b = kLatinExtBBase[c - 0x180];
  else if (c >= 0x1E00 && c <= 0x1EFF) b = kLatinExtAdditionalBase[c - 0x1E00];
  else if (c == 0x212A) b = 'K';  // KELVIN SIGN: NFD gives 'K'
  else if (c == 0x212B) b = 'A';  // ANGSTROM SIGN: NFD gives A + ring above
  return b == '_' ? 0 : b;
}

// Combining marks (general category Mn) that NFD produces for Latin text, plus the other
// combining blocks; unicodeToAscii drops them without leaving a space.
bool is_combining(char32_t c) {
  return (c >= 0x300 && c <= 0x36F) || (c >= 0x1AB0 && c <= 0x1AFF) || (c >= 0x1DC0 && c <= 0x1DFF) ||
         (c >= 0x20D0 && c <= 0x20FF) || (c >= 0x302A && c <= 0x302D) || c == 0x3099 || c == 0x309A ||
         (c >= 0xFE20 && c <= 0xFE2F);
}

bool is_ascii_alnum(char32_t c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

std::string normalize_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  // One pass over code points: letters (after accent stripping) are kept lowercased, .!? get a
  // space before them, combining marks vanish and everything else is a separator. Separators are
  // emitted lazily so runs collapse and the ends come out trimmed.
  bool pending_space = false;
  auto emit = [&](char ch) {
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.push_back(ch);
  };
  for (size_t i = 0; i < s.size();) {
    const char32_t c = decode_utf8(s, i);
    if (c < 0x80 && is_ascii_alnum(c) && !(c >= '0' && c <= '9')) {
      emit(char(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c));
    } else if (c == '.' || c == '!' || c == '?') {
      pending_space = true;
      emit(char(c));
    } else if (c != kInvalidCodePoint && is_combining(c)) {
      continue;
    } else if (const char b = c == kInvalidCodePoint ? 0 : base_letter(c)) {
      emit(char(b >= 'A' && b <= 'Z' ? b + ('a' - 'A') : b));
    } else {
      pending_space = true;
    }
  }
  return out;
}

std::string clean_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    const char32_t c = decode_utf8(s, i);
    if (c != kInvalidCodePoint && is_space(c)) {
      pending_space = true;
      continue;
    }
    if (c != kInvalidCodePoint && is_invisible(c)) continue;
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    if (c == 0x2018 || c == 0x2019) out.push_back('\'');
    else out.append(s.substr(start, i - start));  // as written (invalid bytes included)
  }
  return out;
}

const std::vector<std::string>& tutorial_prefixes() {
  static const std::vector<std::string> p = {"i am ", "i m ",    "he is",  "he s ",  "she is",  "she s ",
                                             "you are", "you re ", "we are", "we re ", "they are", "they re "};
  return p;
}

int64_t count_words(std::string_view normalized) {
  return int64_t(std::count(normalized.begin(), normalized.end(), ' ')) + 1;
}

bool tutorial_filter(std::string_view english, std::string_view other, int64_t max_length) {
  if (count_words(english) >= max_length || count_words(other) >= max_length) return false;
  for (const auto& p : tutorial_prefixes())
    if (english.starts_with(p)) return true;
  return false;
}

std::vector<std::string> tokenize(std::string_view s, Tokenization mode) {
  std::vector<std::string> tokens;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    const char32_t c = decode_utf8(s, i);
    const std::string_view bytes = s.substr(start, i - start);
    if (c == kInvalidCodePoint) {
      flush();  // an invalid byte separates and is dropped
    } else if (is_space(c) || is_invisible(c)) {
      flush();
    } else if (mode == Tokenization::kWord || is_ascii_alnum(c)) {
      word.append(bytes);
    } else {
      flush();
      tokens.emplace_back(bytes);
    }
  }
  flush();
  return tokens;
}

namespace {
bool attaches_left(const std::string& t) {
  return !t.empty() && t.find_first_not_of(".,!?;:)]}") == std::string::npos;
}
bool ascii_alnum_byte(char ch) { return is_ascii_alnum(char32_t(static_cast<unsigned char>(ch))); }
}  // namespace

std::string detokenize(const std::vector<std::string>& tokens, Tokenization mode) {
  std::string out;
  for (const auto& t : tokens) {
    if (t.empty()) continue;
    if (!out.empty()) {
      const bool space = mode == Tokenization::kWord ? !attaches_left(t)
                                                     : ascii_alnum_byte(out.back()) && ascii_alnum_byte(t.front());
      if (space) out.push_back(' ');
    }
    out += t;
  }
  return out;
}

bool is_valid_utf8(std::string_view s, size_t* error_offset) {
  for (size_t i = 0; i < s.size();) {
    const size_t start = i;
    if (decode_utf8(s, i) == kInvalidCodePoint) {
      if (error_offset) *error_offset = start;
      return false;
    }
  }
  return true;
}

}  // namespace attn::data
