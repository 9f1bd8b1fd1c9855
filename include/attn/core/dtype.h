// Element types. attn tensors hold f32, f64, i64, bool or u8 elements; names follow PyTorch
// (attn::kFloat32 ~ torch.float32). bool is stored as one byte per element, as in PyTorch and numpy.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ostream>

#include "attn/core/error.h"

namespace attn {

enum class DType : uint8_t { Float32, Float64, Int64, Bool, UInt8 };

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kBool = DType::Bool;
inline constexpr DType kUInt8 = DType::UInt8;
inline constexpr DType kFloat = kFloat32;
inline constexpr DType kDouble = kFloat64;
inline constexpr DType kLong = kInt64;

constexpr size_t itemsize(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
    case DType::UInt8: return 1;
  }
  return 0;
}
constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
    case DType::UInt8: return "uint8";
  }
  return "?";
}
constexpr bool is_floating_point(DType t) { return t == DType::Float32 || t == DType::Float64; }
inline std::ostream& operator<<(std::ostream& os, DType t) { return os << dtype_name(t); }

template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <class T> inline constexpr DType dtype_of_v = dtype_of<T>::value;

}  // namespace attn

// Dispatch a dtype to a C++ type once per op (never per element):
//   ATTN_DISPATCH_FLOATING(x.dtype(), "softmax", [&] { kernel<scalar_t>(...); });
#define ATTN_DTYPE_CASE(enum_value, type, ...) \
  case enum_value: {                           \
    using scalar_t = type;                     \
    return __VA_ARGS__();                      \
  }
#define ATTN_DISPATCH_FLOATING(DT, NAME, ...)                                              \
  [&] {                                                                                    \
    switch (DT) {                                                                          \
      ATTN_DTYPE_CASE(::attn::DType::Float32, float, __VA_ARGS__)                          \
      ATTN_DTYPE_CASE(::attn::DType::Float64, double, __VA_ARGS__)                         \
      default: ATTN_FAIL(NAME, ": expected a floating-point tensor (float32 or float64), got ", DT); \
    }                                                                                      \
  }()
#define ATTN_DISPATCH_NUMERIC(DT, NAME, ...)                                               \
  [&] {                                                                                    \
    switch (DT) {                                                                          \
      ATTN_DTYPE_CASE(::attn::DType::Float32, float, __VA_ARGS__)                          \
      ATTN_DTYPE_CASE(::attn::DType::Float64, double, __VA_ARGS__)                         \
      ATTN_DTYPE_CASE(::attn::DType::Int64, int64_t, __VA_ARGS__)                          \
      ATTN_DTYPE_CASE(::attn::DType::UInt8, uint8_t, __VA_ARGS__)                          \
      default: ATTN_FAIL(NAME, ": expected a numeric tensor, got ", DT);                   \
    }                                                                                      \
  }()
#define ATTN_DISPATCH_ALL(DT, NAME, ...)                                                   \
  [&] {                                                                                    \
    switch (DT) {                                                                          \
      ATTN_DTYPE_CASE(::attn::DType::Float32, float, __VA_ARGS__)                          \
      ATTN_DTYPE_CASE(::attn::DType::Float64, double, __VA_ARGS__)                         \
      ATTN_DTYPE_CASE(::attn::DType::Int64, int64_t, __VA_ARGS__)                          \
      ATTN_DTYPE_CASE(::attn::DType::Bool, bool, __VA_ARGS__)                              \
      ATTN_DTYPE_CASE(::attn::DType::UInt8, uint8_t, __VA_ARGS__)                          \
    }                                                                                      \
    ATTN_FAIL(NAME, ": unknown dtype");                                                    \
  }()
