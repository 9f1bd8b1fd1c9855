// safetensors reader and writer (see attn/io/safetensors.h).
//
// Reading is two phases: parse_header() validates the header completely against the size of the
// data section (it sees no tensor bytes), then the bytes are copied — from memory or from the file
// with pread — into freshly allocated tensors. Every size is checked before it is used, so a
// hostile file can make attn allocate at most as much as the file holds.
#include "attn/io/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attn/core/file.h"

namespace attn::io {

static_assert(std::endian::native == std::endian::little, "attn's safetensors code assumes a little-endian host");

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeader = 100'000'000;     // the format's limit (safetensors' MAX_HEADER_SIZE)
constexpr uint64_t kMaxElements = uint64_t(1) << 62;  // keeps numel * itemsize and strides in int64

const char* st_dtype(DType t) {
  switch (t) {
    case kFloat32: return "F32";
    case kFloat64: return "F64";
    case kInt64: return "I64";
    case kBool: return "BOOL";
    case kUInt8: return "U8";
  }
  ATTN_FAIL("safetensors: no safetensors name for dtype ", t);
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

// Strict UTF-8 (Unicode 15, table 3-7): no overlong forms, no surrogates, nothing above U+10FFFF.
// Returns the offset of the first bad byte, or npos.
size_t utf8_error(std::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (n - i < size_t(len)) return i;
    const unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
    if (c1 < lo || c1 > hi) return i;
    for (int k = 2; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + size_t(k)]) & 0xC0) != 0x80) return i;
    i += size_t(len);
  }
  return std::string_view::npos;
}

// Thrown from inside the JSON parser's callback; carries an attn message out of nlohmann.
struct HeaderProblem {
  std::string message;
};

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

struct Header {
  std::vector<Entry> entries;  // sorted by data offset
  std::map<std::string, std::string> metadata;
};

// A JSON non-negative integer (nlohmann parses "-0" as a signed 0, hence the second test).
bool is_count(const json& v) { return v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0); }

std::string describe_dims(const json& shape) {
  // The shape as written in the file, for messages (it may not fit int64).
  std::string s = shape.dump();
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// Validates the JSON header against a data section of `data_size` bytes.
Header parse_header(std::string_view header, uint64_t data_size, const std::string& where) {
  const size_t bad = utf8_error(header);
  ATTN_CHECK(bad == std::string_view::npos, where, ": header is not valid UTF-8 (bad byte ",
             int(static_cast<unsigned char>(header[bad < header.size() ? bad : 0])), " at header offset ", bad, ")");
  // The format requires the header to be a JSON object starting right away (padding only at the end).
  ATTN_CHECK(!header.empty() && header[0] == '{', where, ": header does not start with '{' (not a safetensors file?)");

  // Depth and duplicate keys are checked while parsing: nlohmann keeps the last of two equal keys
  // silently, and a valid header never nests deeper than {"name": {"shape": [...]}}.
  std::vector<std::set<std::string>> open_keys;
  auto callback = [&](int depth, json::parse_event_t event, json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
        if (depth > 1) throw HeaderProblem{"header nests objects deeper than a safetensors header can"};
        open_keys.emplace_back();
        break;
      case json::parse_event_t::array_start:
        if (depth > 2) throw HeaderProblem{"header nests arrays deeper than a safetensors header can"};
        break;
      case json::parse_event_t::key:
        if (!open_keys.back().insert(parsed.get<std::string>()).second)
          throw HeaderProblem{"duplicate key \"" + parsed.get<std::string>() + "\" in the header"};
        break;
      case json::parse_event_t::object_end:
        open_keys.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  json j;
  try {
    j = json::parse(header.begin(), header.end(), callback);
  } catch (const HeaderProblem& p) {
    ATTN_FAIL(where, ": ", p.message);
  } catch (const json::exception& e) {
    ATTN_FAIL(where, ": header is not valid JSON (", e.what(), ")");
  }
  ATTN_CHECK(j.is_object(), where, ": header must be a JSON object");

  Header out;
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
    ATTN_CHECK(v.is_object(), tw, ": entry must be an object with dtype, shape and data_offsets");
    for (auto f = v.begin(); f != v.end(); ++f)
      ATTN_CHECK(f.key() == "dtype" || f.key() == "shape" || f.key() == "data_offsets", tw, ": unexpected field '",
                 f.key(), "'");
    ATTN_CHECK(v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), tw,
               ": entry needs dtype, shape and data_offsets");
    const json& jd = v["dtype"];
    ATTN_CHECK(jd.is_string(), tw, ": dtype is not a string");
    Entry e{name, kFloat32, {}, 0, 0};
    ATTN_CHECK(parse_dtype(jd.get<std::string>(), &e.dtype), tw, ": unsupported dtype '", jd.get<std::string>(),
               "' (attn reads F32, F64, I64, BOOL, U8)");

    const json& js = v["shape"];
    ATTN_CHECK(js.is_array(), tw, ": shape is not an array");
    uint64_t numel = 1, nonzero = 1;  // `nonzero` bounds the strides even when some dim is 0
    for (const json& d : js) {
      ATTN_CHECK(is_count(d), tw, ": shape ", describe_dims(js), " has an entry that is not a ",
                 "non-negative integer");
      const uint64_t s = d.get<uint64_t>();
      ATTN_CHECK(s <= kMaxElements && (s == 0 || nonzero <= kMaxElements / s), tw, ": shape ", describe_dims(js),
                 " overflows (more than 2^62 elements)");
      if (s != 0) nonzero *= s;
      numel *= s;
      e.shape.push_back(int64_t(s));
    }

    const json& off = v["data_offsets"];
    ATTN_CHECK(off.is_array() && off.size() == 2 && is_count(off[0]) && is_count(off[1]), tw,
               ": data_offsets must be two non-negative integers, got ", describe_dims(off));
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    ATTN_CHECK(e.begin <= e.end && e.end <= data_size, tw, ": data_offsets [", e.begin, ", ", e.end,
               "] out of range (the data section has ", data_size, " bytes)");
    const uint64_t item = itemsize(e.dtype), span = e.end - e.begin;
    ATTN_CHECK(numel <= span / item && numel * item == span, tw, ": shape ", shape_str(e.shape), " of ", st_dtype(e.dtype),
               " needs ", numel, " x ", item, " bytes but data_offsets [", e.begin, ", ", e.end, "] hold ", span);
    out.entries.push_back(std::move(e));
  }

  // The tensors must tile the data section exactly: no overlap, no hole, nothing after the last.
  std::sort(out.entries.begin(), out.entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end != b.end ? a.end < b.end : a.name < b.name;
  });
  uint64_t covered = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : out.entries) {
    ATTN_CHECK(e.begin >= covered, where, ": tensors '", prev ? prev->name : "", "' [", prev ? prev->begin : 0, ", ",
               covered, ") and '", e.name, "' [", e.begin, ", ", e.end, ") overlap in the data section");
    ATTN_CHECK(e.begin == covered, where, ": bytes [", covered, ", ", e.begin, ") of the data section belong to no tensor ",
               "(a hole before '", e.name, "')");
    covered = e.end;
    prev = &e;
  }
  ATTN_CHECK(covered == data_size, where, ": the data section has ", data_size, " bytes but the tensors cover only ",
             covered, " (trailing bytes after the last tensor)");
  return out;
}

// Reads the 8-byte little-endian header length.
uint64_t read_u64le(const unsigned char* p) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
  return n;
}

void check_header_length(uint64_t n, uint64_t file_size, const std::string& where) {
  ATTN_CHECK(n <= kMaxHeader, where, ": header length ", n, " exceeds the format's limit of 100 MB");
  ATTN_CHECK(n <= file_size - 8, where, ": header length ", n, " runs past the end of the file (", file_size, " bytes)");
}

void check_bools(const Entry& e, const Tensor& t, const std::string& where) {
  if (e.dtype != kBool) return;
  const uint8_t* p = static_cast<const uint8_t*>(t.raw_data());
  for (int64_t i = 0; i < t.numel(); ++i)
    ATTN_CHECK(p[i] <= 1, where, ", tensor '", e.name, "': BOOL byte ", int(p[i]), " at element ", i, " is not 0 or 1");
}

std::string errno_text() { return std::strerror(errno); }

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// pread until `n` bytes have arrived; false on error or end of file.
bool read_fully(int fd, void* buf, size_t n, uint64_t offset) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, off_t(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
    offset += uint64_t(r);
  }
  return true;
}

// The serialized header (length prefix included) and the tensors made contiguous, in order.
std::string header_bytes(const std::vector<std::pair<std::string, Tensor>>& tensors,
                         const std::map<std::string, std::string>& metadata, std::vector<Tensor>* contiguous) {
  // ordered_json keeps insertion order: __metadata__, then the tensors in data order.
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [k, v] : metadata)
    ATTN_CHECK(utf8_error(k) == std::string_view::npos && utf8_error(v) == std::string_view::npos,
               "safetensors: metadata entry '", k, "' is not valid UTF-8");
  if (!metadata.empty()) j["__metadata__"] = metadata;
  uint64_t off = 0;
  std::set<std::string> names;
  for (const auto& [name, t] : tensors) {
    ATTN_CHECK(t.defined(), "safetensors: tensor '", name, "' is undefined");
    ATTN_CHECK(name != "__metadata__", "safetensors: the tensor name '__metadata__' is reserved");
    ATTN_CHECK(utf8_error(name) == std::string_view::npos, "safetensors: tensor name '", name, "' is not valid UTF-8");
    ATTN_CHECK(names.insert(name).second, "safetensors: duplicate tensor name '", name, "'");
    const uint64_t nb = uint64_t(t.numel()) * t.itemsize();
    j[name] = {{"dtype", st_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {off, off + nb}}};
    off += nb;
    contiguous->push_back(t.contiguous());
  }
  // Compact, ASCII-only (as Python's json.dumps), so the bytes match tools/safetensors_min.py.
  std::string header = j.dump(-1, ' ', /*ensure_ascii=*/true);
  header.append((8 - header.size() % 8) % 8, ' ');  // align the data section to 8 bytes
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char((n >> (8 * i)) & 0xFF);
  return out + header;
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

SafetensorsFile parse_safetensors(const void* data, size_t size, const std::string& source) {
  const std::string where = "safetensors file '" + source + "'";
  const unsigned char* bytes = static_cast<const unsigned char*>(data);
  ATTN_CHECK(size >= 8, where, ": too short (", size, " bytes) to hold the 8-byte header length");
  const uint64_t n = read_u64le(bytes);
  check_header_length(n, size, where);
  const std::string_view header(reinterpret_cast<const char*>(bytes) + 8, size_t(n));
  const Header h = parse_header(header, size - 8 - n, where);
  const unsigned char* section = bytes + 8 + n;
  SafetensorsFile out;
  out.metadata = h.metadata;
  for (const Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin) std::memcpy(t.raw_data(), section + e.begin, size_t(e.end - e.begin));
    check_bools(e, t, where);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source) {
  return parse_safetensors(bytes.data(), bytes.size(), source);
}

SafetensorsFile load_safetensors(const std::string& path) {
  const std::string where = "safetensors file '" + path + "'";
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  ATTN_CHECK(f.fd >= 0, "cannot open ", where, ": ", errno_text());
  struct stat st{};
  ATTN_CHECK(::fstat(f.fd, &st) == 0, "cannot stat ", where, ": ", errno_text());
  ATTN_CHECK(S_ISREG(st.st_mode), where, " is not a regular file");
  const uint64_t size = uint64_t(st.st_size);
  ATTN_CHECK(size >= 8, where, ": too short (", size, " bytes) to hold the 8-byte header length");
  unsigned char len[8];
  ATTN_CHECK(read_fully(f.fd, len, 8, 0), "reading ", where, " failed: ", errno_text());
  const uint64_t n = read_u64le(len);
  check_header_length(n, size, where);
  std::string header(size_t(n), '\0');
  ATTN_CHECK(read_fully(f.fd, header.data(), size_t(n), 8), "reading the header of ", where, " failed (file changed?)");
  const Header h = parse_header(header, size - 8 - n, where);
  SafetensorsFile out;
  out.metadata = h.metadata;
  for (const Entry& e : h.entries) {
    Tensor t = empty(e.shape, e.dtype);
    if (e.end > e.begin)
      ATTN_CHECK(read_fully(f.fd, t.raw_data(), size_t(e.end - e.begin), 8 + n + e.begin), "reading tensor '", e.name,
                 "' of ", where, " failed (file truncated while reading?)");
    check_bools(e, t, where);
    out.tensors.emplace_back(e.name, std::move(t));
  }
  return out;
}

std::string serialize_safetensors(const std::vector<std::pair<std::string, Tensor>>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> parts;
  std::string out = header_bytes(tensors, metadata, &parts);
  size_t total = out.size();
  for (const Tensor& t : parts) total += size_t(t.numel()) * t.itemsize();
  out.reserve(total);
  for (const Tensor& t : parts) out.append(static_cast<const char*>(t.raw_data()), size_t(t.numel()) * t.itemsize());
  return out;
}

void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> parts;
  const std::string header = header_bytes(tensors, metadata, &parts);  // validates before touching the disk
  std::vector<std::string_view> bytes{header};
  for (const Tensor& t : parts)
    bytes.emplace_back(static_cast<const char*>(t.raw_data()), size_t(t.numel()) * t.itemsize());
  write_file_atomic(path, bytes);
}

}  // namespace attn::io
