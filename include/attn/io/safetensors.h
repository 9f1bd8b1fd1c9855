// safetensors (Hugging Face's format): an 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the raw little-endian tensor bytes. attn reads and writes it for checkpoints and test
// fixtures; PyTorch reads attn's files through tools/safetensors_min.py.
//
// The reader trusts nothing in the file: every length, offset, dtype and shape is checked, and a
// bad file raises attn::Error naming the file and the problem.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "attn/core/tensor.h"

namespace attn::io {

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;
  const Tensor& at(const std::string& name) const;  // throws with the list of names if missing
  bool contains(const std::string& name) const;
};

// Parses a whole file held in memory; `source` names it in error messages.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source = "<memory>");
SafetensorsFile load_safetensors(const std::string& path);
std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
// Writes atomically: a temporary file in the same directory, then rename.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace attn::io
