// Config structs <-> JSON objects for the checkpoint writers and readers of the train layer
// (internal). Each struct has one field table, `template <class V> void visit_x(X& x, V&& v)`
// calling v("name", x.member) per field, used both to write (JsonFieldWriter) and to read
// (JsonFieldReader), so the two cannot drift. Reading checks every field's JSON type, keeps the
// default of a missing field, and remembers the names it was asked for so that unknown keys can be
// refused (a typo would otherwise silently fall back to a default).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <type_traits>

#include "attn/core/dtype.h"
#include "attn/core/error.h"

namespace attn::train::internal {

inline DType parse_dtype(const std::string& s, const std::string& where) {
  for (DType d : {kFloat32, kFloat64})
    if (s == dtype_name(d)) return d;
  ATTN_FAIL(where, ": unknown model dtype '", s, "' (expected ", dtype_name(kFloat32), " or ", dtype_name(kFloat64), ")");
}

// Writes each visited field into `j` (a DType by its name).
struct JsonFieldWriter {
  nlohmann::json& j;
  template <class T>
  void operator()(const char* name, const T& value) {
    if constexpr (std::is_same_v<T, DType>)
      j[name] = dtype_name(value);
    else
      j[name] = value;
  }
};

// Reads the visited fields of `obj` into a struct; a mistyped field throws naming `where.name`.
struct JsonFieldReader {
  const nlohmann::json& obj;
  std::string where;  // "<file>: <path in the document>"
  std::set<std::string> seen;

  template <class T>
  void operator()(const char* name, T& value) {
    seen.insert(name);
    auto it = obj.find(name);
    if (it == obj.end()) return;
    const nlohmann::json& x = *it;
    const std::string field = where + "." + name;
    if constexpr (std::is_same_v<T, std::string>) {
      ATTN_CHECK(x.is_string(), field, ": expected a string, got ", x.dump());
      value = x.get<std::string>();
    } else if constexpr (std::is_same_v<T, bool>) {
      ATTN_CHECK(x.is_boolean(), field, ": expected true or false, got ", x.dump());
      value = x.get<bool>();
    } else if constexpr (std::is_same_v<T, double>) {
      ATTN_CHECK(x.is_number(), field, ": expected a number, got ", x.dump());
      value = x.get<double>();
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      ATTN_CHECK(x.is_number_unsigned(), field, ": expected a non-negative integer, got ", x.dump());
      value = x.get<uint64_t>();
    } else if constexpr (std::is_same_v<T, int64_t>) {
      ATTN_CHECK(x.is_number_integer(), field, ": expected an integer, got ", x.dump());
      value = x.get<int64_t>();
    } else if constexpr (std::is_same_v<T, DType>) {
      ATTN_CHECK(x.is_string(), field, ": expected a dtype name, got ", x.dump());
      value = parse_dtype(x.get<std::string>(), field);
    } else {
      static_assert(sizeof(T) == 0, "unsupported field type");
    }
  }

  // Refuses the keys of `obj` that no visited field (nor `extra_allowed`) names.
  void check_unknown(const std::set<std::string>& extra_allowed = {}) const {
    for (auto it = obj.begin(); it != obj.end(); ++it)
      ATTN_CHECK(seen.count(it.key()) || extra_allowed.count(it.key()), where, ": unknown field '", it.key(), "'");
  }
};

}  // namespace attn::train::internal
