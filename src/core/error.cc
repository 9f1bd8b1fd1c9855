#include "attn/core/error.h"

#include <cstring>

namespace attn::detail {

void throw_error(const char* file, int line, const std::string& msg) {
  // Report the path from the repository's src/ or include/ down, not the build machine's prefix.
  const char* short_file = file;
  for (const char* key : {"/src/", "/include/", "/apps/", "/python/"}) {
    if (const char* p = std::strstr(file, key)) {
      short_file = p + 1;
      break;
    }
  }
  throw Error(msg + " [" + short_file + ":" + std::to_string(line) + "]");
}

}  // namespace attn::detail
