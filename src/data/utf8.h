// UTF-8 decoding and encoding shared by the data layer (internal header).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace attn::data::detail {

// Returned by decode_utf8 for a byte that does not start a well-formed sequence.
inline constexpr char32_t kInvalidCodePoint = 0xFFFFFFFFu;

// Decodes the code point starting at s[i] and advances i past it. A malformed sequence
// (bad lead byte, truncated, overlong, surrogate, above U+10FFFF) yields kInvalidCodePoint and
// advances i by one byte, so a caller always makes progress.
inline char32_t decode_utf8(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len = 0;
  char32_t cp = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    ++i;
    return kInvalidCodePoint;
  }
  if (i + size_t(len) > s.size()) {
    ++i;
    return kInvalidCodePoint;
  }
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + size_t(k)]);
    if ((b & 0xC0) != 0x80) {
      ++i;
      return kInvalidCodePoint;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    ++i;
    return kInvalidCodePoint;
  }
  i += size_t(len);
  return cp;
}

inline void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

// Whitespace for tokenisation and clean-up: ASCII whitespace and the Unicode space characters.
inline bool is_space(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Invisible characters that carry no text: zero-width space, soft hyphen, byte-order mark.
inline bool is_invisible(char32_t c) { return c == 0x200B || c == 0xAD || c == 0xFEFF; }

// True when `s` holds nothing but spaces and invisible characters (what clean_text empties).
inline bool is_blank(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const char32_t c = decode_utf8(s, i);
    if (c == kInvalidCodePoint || !(is_space(c) || is_invisible(c))) return false;
  }
  return true;
}

}  // namespace attn::data::detail
