// State dicts on disk (see attn/io/state_dict.h).
#include "attn/io/state_dict.h"

#include <charconv>
#include <cmath>

#include "attn/io/safetensors.h"

namespace attn::io {
namespace {

// The attn_format version of a file's metadata, 0 when absent.
int format_version(const std::map<std::string, std::string>& metadata, const std::string& path) {
  auto it = metadata.find(kFormatKey);
  if (it == metadata.end()) return 0;
  const std::string& s = it->second;
  int v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  ATTN_CHECK(ec == std::errc() && ptr == s.data() + s.size() && v >= 1, "state dict '", path, "': ", kFormatKey, " is '",
             s, "', expected a positive integer");
  return v;
}

}  // namespace

void check_finite(const StateDict& state, const std::string& source) {
  for (const auto& entry : state) {
    // (not a structured binding: clang < 16 cannot capture those in the lambda below)
    const std::string& name = entry.first;
    const Tensor& t = entry.second;
    if (!t.defined() || !t.is_floating_point()) continue;
    const Tensor c = t.contiguous();
    ATTN_DISPATCH_FLOATING(c.dtype(), "check_finite", [&] {
      const scalar_t* p = c.data_ptr<scalar_t>();
      for (int64_t i = 0; i < c.numel(); ++i)
        ATTN_CHECK(std::isfinite(p[i]), "state dict '", source, "': tensor '", name, "' (", c.describe(), ") holds ", p[i],
                   " at flat index ", i, " (non-finite values are refused when check_finite is set)");
    });
  }
}

void save_state_dict(const std::string& path, const StateDict& state, const std::map<std::string, std::string>& metadata) {
  ATTN_CHECK(!metadata.count(kFormatKey), "save_state_dict('", path, "'): metadata key '", kFormatKey,
             "' is reserved for attn's format version");
  std::map<std::string, std::string> meta = metadata;
  meta[kFormatKey] = std::to_string(kStateDictFormatVersion);
  save_safetensors(path, state, meta);
}

StateDict load_state_dict(const std::string& path, bool check, std::map<std::string, std::string>* metadata) {
  SafetensorsFile f = load_safetensors(path);
  const int version = format_version(f.metadata, path);
  ATTN_CHECK(version <= kStateDictFormatVersion, "state dict '", path, "' has ", kFormatKey, " ", version,
             ", but this build of attn (", attn::version(), ") reads up to version ", kStateDictFormatVersion,
             ": it was written by a newer attn; upgrade attn to load it");
  if (check) check_finite(f.tensors, path);
  if (metadata) *metadata = std::move(f.metadata);
  return std::move(f.tensors);
}

void save_state_dict(const std::string& path, const nn::Module& module, const std::map<std::string, std::string>& metadata) {
  save_state_dict(path, module.state_dict(), metadata);
}

nn::LoadStateDictResult load_state_dict(const std::string& path, nn::Module& module, bool strict, bool check) {
  return module.load_state_dict(load_state_dict(path, check), strict);
}

}  // namespace attn::io
