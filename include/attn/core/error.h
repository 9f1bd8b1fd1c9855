// Errors. Every check that can fail on user input throws attn::Error with a message that names
// what was expected and what was given (shapes, dtypes, files), plus the attn source location.
// Nothing in attn aborts or returns silent garbage on bad input.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace attn {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);
}  // namespace detail
}  // namespace attn

// ATTN_CHECK(cond, "message parts", shape, ...): throws attn::Error when cond is false.
#define ATTN_CHECK(cond, ...)                                                            \
  do {                                                                                   \
    if (!(cond)) [[unlikely]]                                                            \
      ::attn::detail::throw_error(__FILE__, __LINE__, ::attn::detail::str_cat(__VA_ARGS__)); \
  } while (0)
#define ATTN_FAIL(...) ::attn::detail::throw_error(__FILE__, __LINE__, ::attn::detail::str_cat(__VA_ARGS__))
