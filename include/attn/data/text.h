// Text preparation for translation corpora.
//
// * normalize_string: the normalisation of the classic PyTorch tutorial "NLP From Scratch:
//   Translation with a Sequence to Sequence Network and Attention" (normalizeString =
//   unicodeToAscii(s.lower().strip()), then `([.!?])` -> " \1", then `[^a-zA-Z.!?]+` -> " ",
//   then strip). Accents are stripped the way NFD + "drop combining marks" does it.
// * clean_text: a lighter fix-up of the real Tatoeba files' typography (no-break spaces before
//   French punctuation, curly apostrophes, zero-width characters), keeping case, accents and
//   punctuation, for models that should see real text.
// * tutorial_filter: the tutorial's filterPair (both sides shorter than max_length words, the
//   English side starting with "i am ", "he is", ...).
// * tokenize / detokenize: words (whitespace-separated) and characters (for Chinese: each CJK
//   character a token, runs of ASCII letters/digits kept as one word).
//
// What this is not: a Unicode library. There is no ICU. Accents are stripped with a table of
// the base letter of every Latin letter whose NFD decomposition is an ASCII letter plus marks
// (Latin-1 Supplement, Latin Extended-A, -B and Extended Additional, and the KELVIN / ANGSTROM
// signs); combining marks are dropped. Every other non-ASCII character (Greek, Cyrillic, CJK,
// letters such as "œ", "ß", "ø" that NFD does not decompose, U+202F, "’", "«") becomes a
// separator, exactly as the tutorial's `[^a-zA-Z.!?]+` makes it. tests/data/text_test.cc checks
// U+0080..U+024F, U+1E00..U+1EFF and the punctuation blocks against Python's unicodedata.
//
// All functions take and return UTF-8. Invalid byte sequences never crash: each invalid byte is
// treated as a separator (normalize_string, tokenize) or kept as is (clean_text); the corpus
// reader (tatoeba.h) rejects such lines before they get here.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attn::data {

// The tutorial's normalizeString. "Ça va ?" -> "ca va ?", "I'm 19." -> "i m .",
// "J'ai 19 ans." -> "j ai ans .". Output is ASCII: a-z, ".", "!", "?" and single spaces,
// no leading or trailing space.
std::string normalize_string(std::string_view utf8);

// Typographic clean-up, keeping the text otherwise as written:
//   U+00A0, U+202F, U+2000..U+200A, U+205F, U+3000 and ASCII whitespace -> one ASCII space
//   (runs collapsed, ends trimmed); U+2018 / U+2019 (curly apostrophes) -> "'";
//   U+200B (zero-width space), U+00AD (soft hyphen), U+FEFF (BOM) -> removed.
// "Cours\u202F!" -> "Cours !", "J\u2019ai" -> "J'ai".
std::string clean_text(std::string_view utf8);

// The tutorial's English prefixes, trailing spaces included exactly:
// "i am ", "i m ", "he is", "he s ", "she is", "she s ", "you are", "you re ", "we are",
// "we re ", "they are", "they re ".
const std::vector<std::string>& tutorial_prefixes();

// The tutorial's token count: len(s.split(' ')), i.e. the number of single spaces + 1 (so an
// empty string counts as 1, as in Python).
int64_t count_words(std::string_view normalized);

// The tutorial's filterPair on normalised text: both sides have fewer than `max_length` words
// (count_words) and the English side starts with one of tutorial_prefixes().
bool tutorial_filter(std::string_view english_normalized, std::string_view other_normalized,
                     int64_t max_length = 10);

enum class Tokenization {
  kWord,  // split on whitespace (ASCII and the Unicode spaces listed at clean_text)
  kChar,  // for Chinese/Japanese: one token per character, ASCII letter/digit runs as words
};

// kWord: "i m ok ." -> {"i", "m", "ok", "."}.
// kChar: "我有3个iPhone。" -> {"我", "有", "3", "个", "iPhone", "。"}; whitespace (including
// U+3000 and U+200B) separates and is dropped; every other character, punctuation included, is
// its own token.
std::vector<std::string> tokenize(std::string_view utf8, Tokenization mode = Tokenization::kWord);

// For display. kWord: joined with single spaces, except that tokens made only of
// . , ! ? ; : ) ] } attach to the previous token ("i m ok ." -> "i m ok."). kChar: concatenated,
// with a space only between two ASCII letter/digit words ({"我", "用", "iPhone", "4", "。"} ->
// "我用iPhone 4。").
std::string detokenize(const std::vector<std::string>& tokens, Tokenization mode = Tokenization::kWord);

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF). On failure `*error_offset`, when given, receives the offset of the first bad byte.
bool is_valid_utf8(std::string_view s, size_t* error_offset = nullptr);

}  // namespace attn::data
