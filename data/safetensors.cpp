#include "data/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <set>
#include <sstream>
#include <system_error>

#include "data/atomic_file.h"
#include "data/json.h"

namespace abbe::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swapping here");

namespace {

std::string errno_text(int e) { return std::error_code(e, std::generic_category()).message(); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Closes now and reports the error (a failed close can mean lost written data).
  int close() {
    const int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

// Exactly n bytes at `offset`, or an error naming the file.
void read_at(int fd, void* dst, uint64_t n, uint64_t offset, const std::string& path) {
  auto* p = static_cast<char*>(dst);
  while (n > 0) {
    const size_t chunk = static_cast<size_t>(std::min<uint64_t>(n, 1u << 30));
    const ssize_t r = ::pread(fd, p, chunk, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) ABBE_FAIL(path, ": read error at byte ", offset, ": ", errno_text(errno));
    if (r == 0) ABBE_FAIL(path, ": unexpected end of file at byte ", offset);
    p += r;
    n -= static_cast<uint64_t>(r);
    offset += static_cast<uint64_t>(r);
  }
}

void write_all(int fd, const void* src, size_t n, const std::string& path) {
  const auto* p = static_cast<const char*>(src);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min<size_t>(n, 1u << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) ABBE_FAIL(path, ": write failed: ", errno_text(errno));
    p += w;
    n -= static_cast<size_t>(w);
  }
}

enum class StType { F32, F64, F16, BF16 };

struct Entry {
  std::string name;
  StType type;
  Shape shape;
  uint64_t begin, end;
};

// The reference library's dtype names; the ones abbe does not load get a specific message.
bool parse_dtype(const std::string& s, StType& out) {
  if (s == "F32") out = StType::F32;
  else if (s == "F64") out = StType::F64;
  else if (s == "F16") out = StType::F16;
  else if (s == "BF16") out = StType::BF16;
  else return false;
  return true;
}
bool is_reference_dtype(const std::string& s) {
  static const std::set<std::string> names = {"BOOL", "U8",  "I8",  "F8_E5M2", "F8_E4M3",
                                              "I16",  "U16", "I32", "U32",     "I64",
                                              "U64",  "F4",  "F6_E2M3", "F6_E3M2", "E8M0",
                                              "F8_E8M0"};
  return names.count(s) > 0;
}
uint64_t elem_size(StType t) {
  return t == StType::F64 ? 8 : t == StType::F32 ? 4 : 2;
}
const char* st_name(StType t) {
  switch (t) {
    case StType::F32: return "F32";
    case StType::F64: return "F64";
    case StType::F16: return "F16";
    case StType::BF16: return "BF16";
  }
  return "?";
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  if (exp == 0) {  // zero or subnormal: mant * 2^-24
    const float f = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -f : f;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));  // inf / nan
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));
}
float bf16_to_float(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

std::string shape_str(const Json& shape) { return shape.dump(); }

Entry parse_entry(const std::string& path, const std::string& name, const Json& info,
                  uint64_t data_len) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!info.is_object()) ABBE_FAIL(where, ": header entry is ", info.type_name(), ", expected an object");
  for (const auto& [k, v] : info.as_object())
    if (k != "dtype" && k != "shape" && k != "data_offsets")
      ABBE_FAIL(where, ": unexpected field \"", k, "\" in its header entry");
  const Json* dtype = info.find("dtype");
  const Json* shape = info.find("shape");
  const Json* offsets = info.find("data_offsets");
  if (!dtype || !shape || !offsets)
    ABBE_FAIL(where, ": header entry lacks \"", !dtype ? "dtype" : !shape ? "shape" : "data_offsets",
              "\"");

  Entry e;
  e.name = name;
  if (!dtype->is_string()) ABBE_FAIL(where, ": dtype is ", dtype->type_name(), ", expected a string");
  if (!parse_dtype(dtype->as_string(), e.type)) {
    if (is_reference_dtype(dtype->as_string()))
      ABBE_FAIL(where, " has dtype ", dtype->as_string(),
                ", which abbe does not load (supported: F32, F64, F16, BF16)");
    ABBE_FAIL(where, " has unknown dtype \"", dtype->as_string(), "\"");
  }

  if (!shape->is_array()) ABBE_FAIL(where, ": shape is ", shape->type_name(), ", expected a list");
  if (shape->size() > static_cast<size_t>(kMaxDims))
    ABBE_FAIL(where, " has shape ", shape_str(*shape), " with ", shape->size(),
              " dims; abbe tensors have at most ", kMaxDims);
  for (const Json& d : shape->as_array()) {
    if (!d.is_int()) ABBE_FAIL(where, ": shape ", shape_str(*shape), " must hold integers");
    if (d.as_int() < 0) ABBE_FAIL(where, " has a negative dimension in shape ", shape_str(*shape));
    e.shape.push_back(d.as_int());
  }

  if (!offsets->is_array() || offsets->size() != 2 || !offsets->at(0).is_int() ||
      !offsets->at(1).is_int())
    ABBE_FAIL(where, ": data_offsets ", offsets->dump(), " must be two integers [begin, end]");
  const int64_t b = offsets->at(0).as_int(), en = offsets->at(1).as_int();
  if (b < 0 || en < b)
    ABBE_FAIL(where, " has invalid data_offsets [", b, ", ", en, "] (need 0 <= begin <= end)");
  e.begin = static_cast<uint64_t>(b);
  e.end = static_cast<uint64_t>(en);
  if (e.end > data_len)
    ABBE_FAIL(where, " has data_offsets [", b, ", ", en, "] past the end of the data section (",
              data_len, " bytes; is the file truncated?)");

  // Overflow-safe: a hostile shape may not wrap around to match the offsets.
  uint64_t need = elem_size(e.type);
  bool overflow = false;
  for (int64_t d : e.shape) overflow |= __builtin_mul_overflow(need, static_cast<uint64_t>(d), &need);
  if (std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end()) {
    need = 0;
    overflow = false;
  }
  if (overflow || need != e.end - e.begin)
    ABBE_FAIL(where, " has data_offsets [", b, ", ", en, "] but shape ", e.shape, " ",
              st_name(e.type), " needs ", overflow ? std::string("more than 2^64") : std::to_string(need),
              " bytes");
  return e;
}

// The reference reader's rule: sorted by offset, tensors tile the data section exactly.
void check_layout(const std::string& path, std::vector<Entry> entries, uint64_t data_len) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < pos)
      ABBE_FAIL(path, ": tensor '", e.name, "' data_offsets [", e.begin, ", ", e.end,
                "] overlap tensor '", prev->name, "' [", prev->begin, ", ", prev->end, "]");
    if (e.begin > pos)
      ABBE_FAIL(path, ": gap in the data section: bytes [", pos, ", ", e.begin,
                ") belong to no tensor (before tensor '", e.name, "')");
    pos = e.end;
    prev = &e;
  }
  if (pos != data_len)
    ABBE_FAIL(path, ": the data section has ", data_len, " bytes but the tensors cover ", pos);
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) ABBE_FAIL(path, ": cannot open: ", errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) ABBE_FAIL(path, ": cannot stat: ", errno_text(errno));
  if (!S_ISREG(st.st_mode)) ABBE_FAIL(path, ": not a regular file");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);

  if (file_size < 8)
    ABBE_FAIL(path, ": file is ", file_size,
              " bytes, too short for a safetensors file (8-byte header length, then the header)");
  unsigned char len_bytes[8];
  read_at(fd.get(), len_bytes, 8, 0, path);
  uint64_t header_len = 0;
  for (int k = 7; k >= 0; --k) header_len = (header_len << 8) | len_bytes[k];
  if (header_len > kMaxSafetensorsHeader)
    ABBE_FAIL(path, ": header length ", header_len, " exceeds the limit of ", kMaxSafetensorsHeader,
              " bytes (not a safetensors file?)");
  if (header_len > file_size - 8)
    ABBE_FAIL(path, ": header length ", header_len, " is larger than the rest of the file (",
              file_size - 8, " bytes; truncated or not a safetensors file?)");
  const uint64_t data_start = 8 + header_len, data_len = file_size - data_start;

  std::string header(header_len, '\0');
  read_at(fd.get(), header.data(), header_len, 8, path);
  Json root;
  try {
    root = Json::parse(header);
  } catch (const Error& e) {
    ABBE_FAIL(path, ": invalid JSON header: ", e.what());
  }
  if (!root.is_object()) ABBE_FAIL(path, ": header is ", root.type_name(), ", expected a JSON object");

  SafetensorsFile out;
  std::vector<Entry> entries;
  for (const auto& [name, info] : root.as_object()) {
    if (name == "__metadata__") {
      if (!info.is_object()) ABBE_FAIL(path, ": __metadata__ is ", info.type_name(), ", expected an object");
      for (const auto& [k, v] : info.as_object()) {
        if (!v.is_string())
          ABBE_FAIL(path, ": __metadata__ value for \"", k, "\" is ", v.type_name(),
                    ", expected a string");
        out.metadata[k] = v.as_string();
      }
      continue;
    }
    entries.push_back(parse_entry(path, name, info, data_len));
  }
  check_layout(path, entries, data_len);

  // Everything is validated against the file size; allocations are now bounded by it.
  std::stable_sort(entries.begin(), entries.end(),
                   [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  std::vector<uint16_t> half;
  for (const Entry& e : entries) {
    const uint64_t n = e.end - e.begin, at = data_start + e.begin;
    Tensor t = Tensor::empty(e.shape, e.type == StType::F64 ? DType::f64 : DType::f32);
    if (e.type == StType::F32 || e.type == StType::F64) {
      read_at(fd.get(), t.raw_data(), n, at, path);
    } else {
      half.resize(n / 2);
      read_at(fd.get(), half.data(), n, at, path);
      float* dst = t.data<float>();
      for (size_t k = 0; k < half.size(); ++k)
        dst[k] = e.type == StType::F16 ? half_to_float(half[k]) : bf16_to_float(half[k]);
    }
    out.tensors.emplace(e.name, std::move(t));
    out.order.push_back(e.name);
  }
  return out;
}

void write_safetensors(const std::string& path, const NamedTensors& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<Tensor> data;
  data.reserve(tensors.size());
  std::set<std::string> seen;
  Json header = Json::object();
  if (!metadata.empty()) {
    Json m = Json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__") ABBE_FAIL(path, ": a tensor may not be named __metadata__");
    if (!seen.insert(name).second) ABBE_FAIL(path, ": duplicate tensor name '", name, "'");
    if (!t.defined()) ABBE_FAIL(path, ": tensor '", name, "' is undefined");
    Tensor c = t.to(Device::cpu()).contiguous();
    Json shape = Json::array();
    for (int64_t d : c.shape()) shape.push_back(d);
    const uint64_t n = c.nbytes();
    header[name] = Json::object({{"dtype", c.dtype() == DType::f64 ? "F64" : "F32"},
                                 {"shape", std::move(shape)},
                                 {"data_offsets", Json::array({offset, offset + n})}});
    offset += n;
    data.push_back(std::move(c));
  }
  // Padded with spaces to a multiple of 8, as the reference writer does, so the data section
  // starts aligned.
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  if (h.size() > kMaxSafetensorsHeader)
    ABBE_FAIL(path, ": header of ", h.size(), " bytes exceeds the ", kMaxSafetensorsHeader,
              "-byte limit readers enforce");
  unsigned char len_bytes[8];
  for (int k = 0; k < 8; ++k) len_bytes[k] = static_cast<unsigned char>(uint64_t(h.size()) >> (8 * k));

  write_atomically(path, [&](const std::string& tmp) {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (fd.get() < 0) ABBE_FAIL(path, ": cannot create '", tmp, "': ", errno_text(errno));
    write_all(fd.get(), len_bytes, 8, path);
    write_all(fd.get(), h.data(), h.size(), path);
    for (const Tensor& t : data) write_all(fd.get(), t.raw_data(), t.nbytes(), path);
    if (fd.close() != 0) ABBE_FAIL(path, ": write failed on close: ", errno_text(errno));
  });
}

}  // namespace abbe::io
