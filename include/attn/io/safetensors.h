// safetensors (Hugging Face's format): an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the raw little-endian tensor bytes. attn reads and writes it for checkpoints and test
// fixtures; PyTorch reads attn's files through tools/safetensors_min.py (or the `safetensors`
// package), and attn reads theirs.
//
// The reader trusts nothing in the file. It raises attn::Error naming the file and the problem for:
// a header length beyond the file or above the format's 100 MB limit, a header that is not UTF-8,
// not JSON, not an object or nested deeper than the format allows, duplicate keys, a missing or
// mistyped field, an unknown dtype, shape entries that are negative, non-integer or whose product
// overflows, a shape that disagrees with its byte range, byte ranges out of range, overlapping or
// leaving holes (the tensors must cover the data section exactly, as the format requires), and
// BOOL bytes other than 0 or 1. It never reads outside the given bytes; tests/fuzz/ fuzzes it.
//
// dtypes: F32, F64, I64, BOOL, U8 (attn's dtypes). Others (F16, BF16, I32, ...) are refused by name.
// Tensor order: SafetensorsFile::tensors lists tensors in the order of their data in the file,
// which is the order the writer was given (attn and tools/safetensors_min.py write header keys and
// data in the same order; Hugging Face's writer sorts by dtype then name).
//
// The writer puts __metadata__ first, then the tensors in the given order, compact JSON with
// non-ASCII escaped, padded with spaces to 8 bytes: byte-identical to tools/safetensors_min.py and
// to json.dumps(..., separators=(",", ":")) for the same tensors and metadata.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::io {

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file (data) order
  std::map<std::string, std::string> metadata;
  const Tensor& at(const std::string& name) const;  // throws with the list of names if missing
  bool contains(const std::string& name) const;
};

// Parses a whole file held in memory; `source` names it in error messages.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source = "<memory>");
SafetensorsFile parse_safetensors(const void* data, size_t size, const std::string& source = "<memory>");
// Reads a file, streaming each tensor's bytes straight into its storage (peak memory ~ 1x the file).
SafetensorsFile load_safetensors(const std::string& path);

// The file's bytes. Tensors may be non-contiguous views; names must be unique, valid UTF-8 and not
// "__metadata__".
std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
// Writes atomically: a temporary file in the same directory (fsync'ed), then rename over `path`.
// On any failure the temporary file is removed and `path` is untouched.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace attn::io
