// State dicts on disk: named tensors (a model's parameters and buffers, an optimizer's state) in a
// safetensors file, tagged with attn's checkpoint format version. The files are plain
// safetensors, so PyTorch reads them (tools/safetensors_min.py, or the `safetensors` package)
// and attn reads state dicts that PyTorch wrote the same way.
//
// Format versioning: save_state_dict() records "attn_format": "1" in __metadata__. On load, a file
// without the key is accepted as a foreign safetensors file; a file whose version is newer than
// kStateDictFormatVersion is refused with a message saying to upgrade attn, rather than being
// misread. Bump the version (and keep reading the old one) whenever the meaning of keys changes.
//
// Non-finite values: PyTorch saves and loads NaN/Inf without complaint, and so does attn by
// default; pass check_finite = true (checkpoint loading does) to get an attn::Error naming the
// first tensor and element that is NaN or infinite.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "attn/core/tensor.h"
#include "attn/nn/module.h"

namespace attn::io {

using StateDict = std::vector<std::pair<std::string, Tensor>>;

inline constexpr int kStateDictFormatVersion = 1;
inline constexpr const char* kFormatKey = "attn_format";

// Writes atomically (see save_safetensors). `metadata` may not set "attn_format" itself.
void save_state_dict(const std::string& path, const StateDict& state,
                     const std::map<std::string, std::string>& metadata = {});
// The tensors in file order. When `metadata` is given, it receives the file's __metadata__.
StateDict load_state_dict(const std::string& path, bool check_finite = false,
                          std::map<std::string, std::string>* metadata = nullptr);

// Module conveniences: module.state_dict() to a file, and a file into module.load_state_dict().
void save_state_dict(const std::string& path, const nn::Module& module,
                     const std::map<std::string, std::string>& metadata = {});
nn::LoadStateDictResult load_state_dict(const std::string& path, nn::Module& module, bool strict = true,
                                        bool check_finite = false);

// Throws attn::Error naming `source`, the tensor and the first non-finite element, if any
// floating-point tensor holds NaN or +-Inf.
void check_finite(const StateDict& state, const std::string& source);

}  // namespace attn::io
