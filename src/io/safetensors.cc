// safetensors reader and writer (see attn/io/safetensors.h).
#include "attn/io/safetensors.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include <unistd.h>

namespace attn::io {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100ull << 20;  // the format's own limit is 100 MB

const char* st_dtype(DType t) {
  switch (t) {
    case kFloat32: return "F32";
    case kFloat64: return "F64";
    case kInt64: return "I64";
    case kBool: return "BOOL";
    case kUInt8: return "U8";
  }
  return "?";
}

bool parse_dtype(const std::string& s, DType* out) {
  static const std::pair<const char*, DType> table[] = {
      {"F32", kFloat32}, {"F64", kFloat64}, {"I64", kInt64}, {"BOOL", kBool}, {"U8", kUInt8}};
  for (const auto& [name, dt] : table)
    if (s == name) {
      *out = dt;
      return true;
    }
  return false;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    int n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : -1;
    if (n < 0 || i + n >= s.size() + (n == 0 ? 1 : 0)) return false;
    for (int k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  std::string names;
  for (const auto& [n, t] : tensors) names += (names.empty() ? "" : ", ") + n;
  ATTN_FAIL("safetensors: no tensor named '", name, "' (have: ", names, ")");
}

bool SafetensorsFile::contains(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return true;
  return false;
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source) {
  const std::string where = "safetensors file '" + source + "'";
  ATTN_CHECK(bytes.size() >= 8, where, ": too short (", bytes.size(), " bytes) to hold the 8-byte header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[size_t(i)]);
  ATTN_CHECK(n <= kMaxHeader, where, ": header length ", n, " exceeds the 100 MB limit");
  ATTN_CHECK(n <= bytes.size() - 8, where, ": header length ", n, " runs past the end of the file (", bytes.size(), " bytes)");
  const std::string header = bytes.substr(8, size_t(n));
  ATTN_CHECK(valid_utf8(header), where, ": header is not valid UTF-8");
  json j;
  try {
    j = json::parse(header);
  } catch (const std::exception& e) {
    ATTN_FAIL(where, ": header is not valid JSON (", e.what(), ")");
  }
  ATTN_CHECK(j.is_object(), where, ": header must be a JSON object");
  const uint64_t data_size = bytes.size() - 8 - n;
  const char* data = bytes.data() + 8 + n;

  SafetensorsFile out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      ATTN_CHECK(v.is_object(), where, ": __metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        ATTN_CHECK(m.value().is_string(), where, ": __metadata__ value for '", m.key(), "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string tw = where + ", tensor '" + name + "'";
    ATTN_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), tw,
               ": entry needs dtype, shape and data_offsets");
    ATTN_CHECK(v["dtype"].is_string(), tw, ": dtype is not a string");
    DType dt;
    ATTN_CHECK(parse_dtype(v["dtype"].get<std::string>(), &dt), tw, ": unsupported dtype '", v["dtype"].get<std::string>(),
               "' (attn reads F32, F64, I64, BOOL, U8)");
    ATTN_CHECK(v["shape"].is_array(), tw, ": shape is not an array");
    Shape shape;
    uint64_t numel = 1;
    for (const json& d : v["shape"]) {
      ATTN_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), tw, ": shape entries must be non-negative integers");
      const uint64_t s = d.get<uint64_t>();
      ATTN_CHECK(s == 0 || numel <= (uint64_t(1) << 62) / s, tw, ": shape is too large");
      numel *= s;
      shape.push_back(int64_t(s));
    }
    const json& off = v["data_offsets"];
    ATTN_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(), tw,
               ": data_offsets must be two non-negative integers");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    ATTN_CHECK(b <= e && e <= data_size, tw, ": data_offsets [", b, ", ", e, ") out of range (data section has ", data_size,
               " bytes)");
    ATTN_CHECK(e - b == numel * itemsize(dt), tw, ": shape ", shape_str(shape), " of ", dtype_name(dt), " needs ",
               numel * itemsize(dt), " bytes but data_offsets give ", e - b);
    ranges.emplace_back(b, e);
    Tensor t = empty(shape, dt);
    if (e > b) std::memcpy(t.raw_data(), data + b, size_t(e - b));
    if (dt == kBool) {
      const uint8_t* p = static_cast<const uint8_t*>(t.raw_data());
      for (uint64_t i = 0; i < numel; ++i) ATTN_CHECK(p[i] <= 1, tw, ": BOOL byte ", int(p[i]), " at index ", i, " is not 0 or 1");
    }
    out.tensors.emplace_back(name, t);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    ATTN_CHECK(ranges[i].first >= ranges[i - 1].second, where, ": tensors overlap in the data section (bytes ", ranges[i].first,
               " and ", ranges[i - 1].second, ")");
  return out;
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ATTN_CHECK(f.good(), "cannot open safetensors file '", path, "'");
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse_safetensors(ss.str(), path);
}

std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  json j = json::object();
  if (!metadata.empty()) j["__metadata__"] = metadata;
  uint64_t off = 0;
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    ATTN_CHECK(names.insert(name).second, "safetensors: duplicate tensor name '", name, "'");
    ATTN_CHECK(name != "__metadata__", "safetensors: '__metadata__' is reserved");
    const uint64_t nb = uint64_t(t.numel()) * t.itemsize();
    j[name] = {{"dtype", st_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {off, off + nb}}};
    off += nb;
  }
  std::string header = j.dump();
  header.append((8 - header.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xFF);
  out += header;
  out.reserve(out.size() + off);
  // JSON objects keep keys sorted; tensors are written in the offsets assigned above (input order).
  for (const auto& [name, t] : tensors) {
    Tensor c = t.contiguous();
    out.append(static_cast<const char*>(c.raw_data()), size_t(c.numel()) * c.itemsize());
  }
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string bytes = serialize_safetensors(tensors, metadata);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    ATTN_CHECK(f.good(), "cannot write '", tmp, "' (for ", path, ")");
    f.write(bytes.data(), std::streamsize(bytes.size()));
    f.flush();
    if (!f.good()) {
      std::remove(tmp.c_str());
      ATTN_FAIL("writing '", path, "' failed (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    ATTN_FAIL("cannot rename '", tmp, "' to '", path, "'");
  }
}

}  // namespace attn::io
