// libFuzzer target for attn's safetensors reader (src/io/safetensors.cc), built with
// -fsanitize=fuzzer,address,undefined (see tests/fuzz/CMakeLists.txt for the commands).
//
// Contract under test: for any bytes, parse_safetensors either returns tensors or throws
// attn::Error — no crash, no out-of-bounds read, no undefined behaviour, no other exception. For
// inputs it accepts, a second property must hold: serialising what was read and parsing that
// again succeeds and gives the same names, dtypes, shapes, bytes and metadata (any failure there
// escapes as an uncaught exception or a trap, which libFuzzer reports).
//
// Seeds: tests/fuzz/corpus/ (valid small files written by tools/safetensors_min.py and by
// PyTorch via tools/torch_roundtrip.py); tokens: tests/fuzz/safetensors.dict.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "attn/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  attn::io::SafetensorsFile first;
  try {
    first = attn::io::parse_safetensors(data, size, "fuzz-input");
  } catch (const attn::Error&) {
    return 0;  // refused with a message: the expected outcome for almost every input
  }
  const std::string bytes = attn::io::serialize_safetensors(first.tensors, first.metadata);
  const attn::io::SafetensorsFile second = attn::io::parse_safetensors(bytes, "fuzz-reserialised");
  if (second.tensors.size() != first.tensors.size() || second.metadata != first.metadata) __builtin_trap();
  for (size_t i = 0; i < first.tensors.size(); ++i) {
    const attn::Tensor& a = first.tensors[i].second;
    const attn::Tensor& b = second.tensors[i].second;
    if (first.tensors[i].first != second.tensors[i].first || a.dtype() != b.dtype() || a.shape() != b.shape()) __builtin_trap();
    if (std::memcmp(a.raw_data(), b.raw_data(), size_t(a.numel()) * a.itemsize()) != 0) __builtin_trap();
  }
  return 0;
}
