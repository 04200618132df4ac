#include "data/tiff.h"

#include <sys/stat.h>
#include <tiffio.h>

#include <algorithm>
#include <cmath>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>
#include <system_error>
#include <vector>

#include "data/atomic_file.h"

namespace abbe::io {
namespace {

// A compressed page may decode to far more bytes than the file holds (deflate's limit is about
// 1032:1); beyond this ratio a header's sizes are treated as hostile, before anything is allocated.
constexpr uint64_t kMaxExpansion = 1100;

// libtiff reports through callbacks; these collect errors for the exception and drop warnings
// (ImageJ files, for one, always warn about their private tags).
struct Messages {
  std::string errors;
};

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  char buf[512];
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  auto* m = static_cast<Messages*>(user);
  if (!m->errors.empty()) m->errors += "; ";
  if (module && *module) m->errors += std::string(module) + ": ";
  m->errors += buf;
  return 1;  // handled: the global handler (stderr) is not called
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }

// An open TIFF with its own message sink. Not movable: libtiff keeps a pointer to msgs.
class TiffFile {
 public:
  TiffFile(const std::string& path, const char* mode) : path_(path) {
    TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
    TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &msgs_);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &msgs_);
    tif_ = TIFFOpenExt(path.c_str(), mode, opts);
    TIFFOpenOptionsFree(opts);
  }
  ~TiffFile() { close(); }
  TiffFile(const TiffFile&) = delete;
  TiffFile& operator=(const TiffFile&) = delete;

  TIFF* get() const { return tif_; }
  void close() {
    if (tif_) TIFFClose(tif_);
    tif_ = nullptr;
  }
  // " (libtiff: ...)" when libtiff said something, else "".
  std::string detail() const { return msgs_.errors.empty() ? "" : " (libtiff: " + msgs_.errors + ")"; }
  bool has_errors() const { return !msgs_.errors.empty(); }

 private:
  std::string path_;
  Messages msgs_;
  TIFF* tif_ = nullptr;
};

enum class Kind { u8, u16, u32, i8, i16, i32, f32, f64 };

struct PageFormat {
  uint32_t width = 0, height = 0;
  uint16_t bits = 0, sample_format = SAMPLEFORMAT_UINT, compression = COMPRESSION_NONE;
  bool tiled = false;
  Kind kind = Kind::u8;
  uint64_t bytes_per_sample() const { return bits / 8u; }
  bool same_layout(const PageFormat& o) const {
    return width == o.width && height == o.height && kind == o.kind;
  }
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::u8: return "uint8";
    case Kind::u16: return "uint16";
    case Kind::u32: return "uint32";
    case Kind::i8: return "int8";
    case Kind::i16: return "int16";
    case Kind::i32: return "int32";
    case Kind::f32: return "float32";
    case Kind::f64: return "float64";
  }
  return "?";
}

std::string page_where(const std::string& path, int64_t page) {
  return path + ": page " + std::to_string(page);
}

PageFormat page_format(const TiffFile& f, const std::string& path, int64_t page, uint64_t file_size) {
  TIFF* tif = f.get();
  const std::string where = page_where(path, page);
  PageFormat p;
  uint16_t spp = 1, photometric = PHOTOMETRIC_MINISBLACK;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &p.width) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &p.height))
    ABBE_FAIL(where, ": missing image width or height", f.detail());
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &p.bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &p.sample_format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &p.compression);
  TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric);  // absent: grayscale
  p.tiled = TIFFIsTiled(tif);

  if (spp != 1 || photometric == PHOTOMETRIC_RGB || photometric == PHOTOMETRIC_YCBCR)
    ABBE_FAIL(where, ": has ", spp, " samples per pixel (photometric ", photometric,
              (photometric == PHOTOMETRIC_RGB ? ", RGB" : ""),
              "); only single-channel grayscale images are supported (split the channels first)");
  if (photometric != PHOTOMETRIC_MINISBLACK)
    ABBE_FAIL(where, ": photometric interpretation ", photometric,
              (photometric == PHOTOMETRIC_PALETTE ? " (palette)"
               : photometric == PHOTOMETRIC_MINISWHITE ? " (min-is-white)" : ""),
              " is not supported; only min-is-black grayscale is");
  const uint16_t sf = p.sample_format, b = p.bits;
  if ((sf == SAMPLEFORMAT_UINT || sf == SAMPLEFORMAT_VOID) && (b == 8 || b == 16 || b == 32))
    p.kind = b == 8 ? Kind::u8 : b == 16 ? Kind::u16 : Kind::u32;
  else if (sf == SAMPLEFORMAT_INT && (b == 8 || b == 16 || b == 32))
    p.kind = b == 8 ? Kind::i8 : b == 16 ? Kind::i16 : Kind::i32;
  else if (sf == SAMPLEFORMAT_IEEEFP && (b == 32 || b == 64))
    p.kind = b == 32 ? Kind::f32 : Kind::f64;
  else
    ABBE_FAIL(where, ": ", b, "-bit samples of sample format ", sf,
              " are not supported (uint 8/16/32, int 8/16/32 and float 32/64 are)");
  if (!TIFFIsCODECConfigured(p.compression))
    ABBE_FAIL(where, ": compression scheme ", p.compression,
              " cannot be decoded by this libtiff build");
  if (p.width == 0 || p.height == 0) ABBE_FAIL(where, ": image is empty (", p.width, "x", p.height, ")");

  const uint64_t bytes = uint64_t{p.width} * p.height * p.bytes_per_sample();
  const uint64_t limit = p.compression == COMPRESSION_NONE ? file_size : file_size * kMaxExpansion;
  if (bytes > limit)
    ABBE_FAIL(where, ": ", p.width, "x", p.height, " ", kind_name(p.kind), " needs ", bytes,
              " bytes but the file has only ", file_size, " (truncated or corrupt)");
  return p;
}

void parse_imagej(const std::string& path, TiffInfo& info) {
  const std::string& d = info.description;
  info.channels = info.slices = 1;
  info.frames = info.pages;
  info.imagej = d.rfind("ImageJ=", 0) == 0;
  if (!info.imagej) return;
  int64_t c = 1, z = 1, t = 1, images = 1;
  size_t pos = 0;
  while (pos < d.size()) {
    size_t end = d.find('\n', pos);
    if (end == std::string::npos) end = d.size();
    const std::string line = d.substr(pos, end - pos);
    pos = end + 1;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = line.substr(0, eq);
    char* end_num = nullptr;
    const long long v = std::strtoll(line.c_str() + eq + 1, &end_num, 10);
    if (end_num == line.c_str() + eq + 1 || v < 1) continue;
    if (key == "channels") c = v;
    else if (key == "slices") z = v;
    else if (key == "frames") t = v;
    else if (key == "images") images = v;
  }
  // ImageJ writes stacks over 4 GB as one directory followed by all images' raw data; reading
  // only page 0 of such a file would silently drop the rest.
  if (info.pages == 1 && images > 1)
    ABBE_FAIL(path, ": ImageJ description says images=", images,
              " but the file has one page: ImageJ's raw layout for stacks over 4 GB is not "
              "supported (save as BigTIFF or split the stack)");
  // A description that disagrees with the page count (hand-edited, or ImageJ's raw >4 GB
  // layout) is kept in `description` only.
  if (c <= info.pages && z <= info.pages && t <= info.pages && c * z <= info.pages &&
      c * z * t == info.pages) {
    info.channels = c;
    info.slices = z;
    info.frames = t;
  }
}

// Scans every directory; the pixel data are not read. Leaves the file at its last directory.
std::vector<PageFormat> scan(const TiffFile& f, const std::string& path, uint64_t file_size,
                             TiffInfo& info) {
  std::vector<PageFormat> pages;
  uint64_t total = 0;
  do {
    const int64_t page = static_cast<int64_t>(pages.size());
    pages.push_back(page_format(f, path, page, file_size));
    if (page == 0) {
      char* desc = nullptr;
      if (TIFFGetField(f.get(), TIFFTAG_IMAGEDESCRIPTION, &desc) && desc) info.description = desc;
    } else if (!pages.back().same_layout(pages[0])) {
      const PageFormat &a = pages.back(), &b = pages[0];
      ABBE_FAIL(page_where(path, page), ": ", a.width, "x", a.height, " ", kind_name(a.kind),
                " differs from page 0 (", b.width, "x", b.height, " ", kind_name(b.kind),
                "); all pages of a stack must match");
    }
    total += uint64_t{pages.back().width} * pages.back().height * pages.back().bytes_per_sample();
    if (total > file_size * kMaxExpansion)
      ABBE_FAIL(page_where(path, page), ": the stack decodes to more than ", kMaxExpansion,
                " times the file size (corrupt or hostile file)");
  } while (TIFFReadDirectory(f.get()));
  if (f.has_errors())
    ABBE_FAIL(page_where(path, static_cast<int64_t>(pages.size())), ": cannot read the directory",
              f.detail());
  const PageFormat& p0 = pages[0];
  info.pages = static_cast<int64_t>(pages.size());
  info.height = p0.height;
  info.width = p0.width;
  info.bits = p0.bits;
  info.is_float = p0.kind == Kind::f32 || p0.kind == Kind::f64;
  info.is_signed = p0.kind == Kind::i8 || p0.kind == Kind::i16 || p0.kind == Kind::i32;
  parse_imagej(path, info);
  return pages;
}

template <typename T>
void convert(const uint8_t* src, float* dst, size_t n) {
  for (size_t k = 0; k < n; ++k) {
    T v;
    std::memcpy(&v, src + k * sizeof(T), sizeof(T));  // the buffer may be unaligned for T
    dst[k] = static_cast<float>(v);
  }
}

void convert(Kind kind, const uint8_t* src, float* dst, size_t n) {
  switch (kind) {
    case Kind::u8: return convert<uint8_t>(src, dst, n);
    case Kind::u16: return convert<uint16_t>(src, dst, n);
    case Kind::u32: return convert<uint32_t>(src, dst, n);
    case Kind::i8: return convert<int8_t>(src, dst, n);
    case Kind::i16: return convert<int16_t>(src, dst, n);
    case Kind::i32: return convert<int32_t>(src, dst, n);
    case Kind::f32: return convert<float>(src, dst, n);
    case Kind::f64: return convert<double>(src, dst, n);
  }
}

// One page into out, (H, W) row-major.
void read_page(const TiffFile& f, const std::string& path, int64_t page, const PageFormat& p,
               uint64_t file_size, float* out) {
  TIFF* tif = f.get();
  const std::string where = page_where(path, page);
  const uint64_t bps = p.bytes_per_sample(), W = p.width, H = p.height;
  std::vector<uint8_t> buf;
  if (p.tiled) {
    uint32_t tw = 0, th = 0;
    TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
    const uint64_t tile_bytes = uint64_t{tw} * th * bps;
    if (tw == 0 || th == 0 || tile_bytes > std::max<uint64_t>(file_size * kMaxExpansion, W * H * bps))
      ABBE_FAIL(where, ": invalid tile size ", tw, "x", th);
    buf.resize(tile_bytes);
    for (uint64_t y0 = 0; y0 < H; y0 += th) {
      for (uint64_t x0 = 0; x0 < W; x0 += tw) {
        const uint32_t tile = TIFFComputeTile(tif, static_cast<uint32_t>(x0),
                                              static_cast<uint32_t>(y0), 0, 0);
        if (TIFFReadEncodedTile(tif, tile, buf.data(), static_cast<tmsize_t>(tile_bytes)) < 0)
          ABBE_FAIL(where, ": cannot read tile ", tile, " (truncated or corrupt)", f.detail());
        const uint64_t rows = std::min<uint64_t>(th, H - y0), cols = std::min<uint64_t>(tw, W - x0);
        for (uint64_t r = 0; r < rows; ++r)
          convert(p.kind, buf.data() + r * tw * bps, out + (y0 + r) * W + x0, cols);
      }
    }
    return;
  }
  uint32_t rps = 0;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
  const uint64_t rows_per_strip = std::clamp<uint64_t>(rps, 1, H);
  buf.resize(rows_per_strip * W * bps);
  for (uint64_t y0 = 0, strip = 0; y0 < H; y0 += rows_per_strip, ++strip) {
    const uint64_t rows = std::min(rows_per_strip, H - y0), want = rows * W * bps;
    const tmsize_t got = TIFFReadEncodedStrip(tif, static_cast<uint32_t>(strip), buf.data(),
                                              static_cast<tmsize_t>(want));
    if (got < 0 || static_cast<uint64_t>(got) < want)
      ABBE_FAIL(where, ": cannot read strip ", strip, " (truncated or corrupt)", f.detail());
    convert(p.kind, buf.data(), out + y0 * W, rows * W);
  }
}

uint64_t file_size_or_fail(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    ABBE_FAIL(path, ": cannot open: ", std::error_code(errno, std::generic_category()).message());
  if (!S_ISREG(st.st_mode)) ABBE_FAIL(path, ": not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace

Tensor read_tiff(const std::string& path, TiffInfo* info_out) {
  const uint64_t file_size = file_size_or_fail(path);
  TiffFile f(path, "r");
  if (!f.get()) ABBE_FAIL(path, ": cannot open as TIFF", f.detail());
  TiffInfo info;
  const std::vector<PageFormat> pages = scan(f, path, file_size, info);

  Tensor out = Tensor::empty({info.pages, info.height, info.width}, DType::f32);
  float* dst = out.data<float>();
  if (!TIFFSetDirectory(f.get(), 0)) ABBE_FAIL(path, ": cannot rewind to page 0", f.detail());
  const uint64_t plane = uint64_t(info.height) * uint64_t(info.width);
  for (int64_t p = 0; p < info.pages; ++p) {
    if (p > 0 && !TIFFReadDirectory(f.get()))
      ABBE_FAIL(page_where(path, p), ": cannot read the directory", f.detail());
    read_page(f, path, p, pages[p], file_size, dst + p * plane);
  }
  if (info_out) *info_out = info;
  return out;
}

TiffInfo read_tiff_info(const std::string& path) {
  const uint64_t file_size = file_size_or_fail(path);
  TiffFile f(path, "r");
  if (!f.get()) ABBE_FAIL(path, ": cannot open as TIFF", f.detail());
  TiffInfo info;
  scan(f, path, file_size, info);
  return info;
}

const char* tiff_format_name(TiffFormat f) {
  switch (f) {
    case TiffFormat::uint8: return "uint8";
    case TiffFormat::uint16: return "uint16";
    case TiffFormat::float32: return "float32";
  }
  return "?";
}

namespace {

// Writes `pages` planes of H x W floats from src as pages first.. of an open TIFF, converted to
// fmt; desc goes on page 0.
void write_pages(TiffFile& f, const std::string& path, const float* src, int64_t first,
                 int64_t pages, int64_t H, int64_t W, TiffFormat fmt, const std::string& desc) {
  TIFF* tif = f.get();
  const uint64_t plane = uint64_t(H) * uint64_t(W);
  const bool is_int = fmt != TiffFormat::float32;
  const double hi = fmt == TiffFormat::uint8 ? 255.0 : 65535.0;
  const int bytes = fmt == TiffFormat::uint8 ? 1 : fmt == TiffFormat::uint16 ? 2 : 4;
  const auto to_int = [hi](double v) { return std::round(std::clamp(v, 0.0, hi)); };
  std::vector<uint8_t> buf(plane * bytes);
  for (int64_t i = 0; i < pages; ++i) {
    const int64_t p = first + i;
    const float* page = src + i * plane;
    if (fmt == TiffFormat::float32) {
      std::memcpy(buf.data(), page, plane * 4);
    } else if (fmt == TiffFormat::uint8) {
      for (uint64_t k = 0; k < plane; ++k) buf[k] = static_cast<uint8_t>(to_int(page[k]));
    } else {
      for (uint64_t k = 0; k < plane; ++k) {
        const uint16_t v = static_cast<uint16_t>(to_int(page[k]));
        std::memcpy(buf.data() + 2 * k, &v, 2);
      }
    }
    bool ok = TIFFSetField(tif, TIFFTAG_SUBFILETYPE, 0) &&
              TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, static_cast<uint32_t>(W)) &&
              TIFFSetField(tif, TIFFTAG_IMAGELENGTH, static_cast<uint32_t>(H)) &&
              TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, static_cast<uint16_t>(8 * bytes)) &&
              TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, static_cast<uint16_t>(1)) &&
              TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT,
                           static_cast<uint16_t>(is_int ? SAMPLEFORMAT_UINT : SAMPLEFORMAT_IEEEFP)) &&
              TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, static_cast<uint16_t>(PHOTOMETRIC_MINISBLACK)) &&
              TIFFSetField(tif, TIFFTAG_PLANARCONFIG, static_cast<uint16_t>(PLANARCONFIG_CONTIG)) &&
              TIFFSetField(tif, TIFFTAG_COMPRESSION, static_cast<uint16_t>(COMPRESSION_NONE)) &&
              TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, static_cast<uint32_t>(H));
    if (ok && p == 0) ok = TIFFSetField(tif, TIFFTAG_IMAGEDESCRIPTION, desc.c_str());
    if (!ok) ABBE_FAIL(page_where(path, p), ": cannot set TIFF tags", f.detail());
    if (TIFFWriteEncodedStrip(tif, 0, buf.data(), static_cast<tmsize_t>(buf.size())) < 0 ||
        !TIFFWriteDirectory(tif))
      ABBE_FAIL(page_where(path, p), ": write failed", f.detail());
  }
}

std::string imagej_description(int64_t pages) {
  std::string desc = "ImageJ=1.11a\n";
  if (pages > 1)
    desc += "images=" + std::to_string(pages) + "\nframes=" + std::to_string(pages) + "\nloop=false\n";
  return desc;
}

// Classic TIFF offsets are 32-bit; leave room for the directories.
bool needs_bigtiff(int64_t pages, int64_t H, int64_t W, TiffFormat fmt) {
  const int bytes = fmt == TiffFormat::uint8 ? 1 : fmt == TiffFormat::uint16 ? 2 : 4;
  return uint64_t(H) * uint64_t(W) * uint64_t(pages) * bytes > (uint64_t{1} << 32) - (uint64_t{1} << 26);
}

}  // namespace

void write_tiff(const std::string& path, const Tensor& stack, TiffFormat fmt) {
  ABBE_CHECK(stack.defined(), path, ": write_tiff: undefined tensor");
  if (stack.dim() != 2 && stack.dim() != 3)
    ABBE_FAIL(path, ": write_tiff needs (pages, H, W) or (H, W), got ", stack.shape());
  const Tensor s = stack.to(Device::cpu()).to(DType::f32).contiguous();
  const int64_t pages = s.dim() == 3 ? s.size(0) : 1, H = s.size(-2), W = s.size(-1);
  if (pages < 1 || H < 1 || W < 1 || H > UINT32_MAX || W > UINT32_MAX)
    ABBE_FAIL(path, ": write_tiff: cannot write a stack of shape ", stack.shape());
  const uint64_t plane = uint64_t(H) * uint64_t(W);
  const float* src = s.data<float>();
  const bool is_int = fmt != TiffFormat::float32;
  const double hi = fmt == TiffFormat::uint8 ? 255.0 : 65535.0;

  // Display range for ImageJ over the values as written; NaN cannot become an integer.
  double vmin = std::numeric_limits<double>::infinity(), vmax = -vmin;
  for (uint64_t k = 0; k < plane * pages; ++k) {
    const double v = src[k];
    if (is_int && std::isnan(v))
      ABBE_FAIL(path, ": value at (page ", k / plane, ", y ", k % plane / W, ", x ", k % W,
                ") is NaN and cannot be written as ", tiff_format_name(fmt));
    if (!std::isfinite(v)) continue;
    vmin = std::min(vmin, v);
    vmax = std::max(vmax, v);
  }
  const auto to_int = [hi](double v) { return std::round(std::clamp(v, 0.0, hi)); };
  if (is_int) {
    vmin = vmin <= vmax ? to_int(vmin) : 0;
    vmax = vmin <= vmax ? to_int(vmax) : 0;
  }
  std::string desc = imagej_description(pages);
  if (vmin <= vmax) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "min=%.9g\nmax=%.9g\n", vmin, vmax);
    desc += buf;
  }
  const bool big = needs_bigtiff(pages, H, W, fmt);
  write_atomically(path, [&](const std::string& tmp) {
    TiffFile f(tmp, big ? "w8" : "w");
    if (!f.get()) ABBE_FAIL(path, ": cannot create '", tmp, "'", f.detail());
    write_pages(f, path, src, 0, pages, H, W, fmt, desc);
    if (!TIFFFlush(f.get())) ABBE_FAIL(path, ": write failed", f.detail());
    f.close();
    if (f.has_errors()) ABBE_FAIL(path, ": write failed", f.detail());
  });
}

// ---- streaming ----

struct TiffReader::Impl {
  std::string path;
  uint64_t file_size;
  TiffFile f;
  TiffInfo info;
  std::vector<PageFormat> pages;
  int64_t current = -1;  // the directory libtiff is on (-1: unknown)
  explicit Impl(const std::string& p) : path(p), file_size(file_size_or_fail(p)), f(p, "r") {}
};

TiffReader::TiffReader(const std::string& path) : impl_(std::make_unique<Impl>(path)) {
  if (!impl_->f.get()) ABBE_FAIL(path, ": cannot open as TIFF", impl_->f.detail());
  impl_->pages = scan(impl_->f, path, impl_->file_size, impl_->info);
}
TiffReader::~TiffReader() = default;
const TiffInfo& TiffReader::info() const { return impl_->info; }

Tensor TiffReader::read(int64_t first, int64_t count) {
  const TiffInfo& info = impl_->info;
  ABBE_CHECK(first >= 0 && count >= 0 && first + count <= info.pages, impl_->path,
             ": pages [", first, ", ", first + count, ") out of range (", info.pages, " pages)");
  Tensor out = Tensor::empty({count, info.height, info.width}, DType::f32);
  const uint64_t plane = uint64_t(info.height) * uint64_t(info.width);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t p = first + i;
    // The next page is one step along libtiff's chain; any other is a walk from page 0
    // (TIFFSetDirectory), so callers that read forward stay linear in the movie's length.
    const bool ok = p == impl_->current ||
                    (impl_->current >= 0 && p == impl_->current + 1 ? TIFFReadDirectory(impl_->f.get()) != 0
                                             : TIFFSetDirectory(impl_->f.get(), static_cast<tdir_t>(p)) != 0);
    impl_->current = ok ? p : -1;
    if (!ok) ABBE_FAIL(page_where(impl_->path, p), ": cannot read the directory", impl_->f.detail());
    read_page(impl_->f, impl_->path, p, impl_->pages[p], impl_->file_size,
              out.data<float>() + i * plane);
  }
  return out;
}

struct TiffStackWriter::Impl {
  AtomicFile file;
  TiffFile f;
  int64_t pages, H, W, written = 0;
  TiffFormat fmt;
  Impl(const std::string& path, int64_t n, int64_t h, int64_t w, TiffFormat k)
      : file(path), f(file.tmp(), needs_bigtiff(n, h, w, k) ? "w8" : "w"), pages(n), H(h), W(w), fmt(k) {}
};

TiffStackWriter::TiffStackWriter(const std::string& path, int64_t pages, int64_t H, int64_t W,
                                 TiffFormat fmt) {
  if (pages < 1 || H < 1 || W < 1 || H > UINT32_MAX || W > UINT32_MAX)
    ABBE_FAIL(path, ": cannot write a stack of ", pages, " pages of ", H, " x ", W);
  impl_ = std::make_unique<Impl>(path, pages, H, W, fmt);
  if (!impl_->f.get()) ABBE_FAIL(path, ": cannot create '", impl_->file.tmp(), "'", impl_->f.detail());
}
TiffStackWriter::~TiffStackWriter() {
  if (impl_) impl_->f.close();  // before AtomicFile removes the temp file
}

void TiffStackWriter::append(const Tensor& stack) {
  Impl& m = *impl_;
  const std::string& path = m.file.path();
  ABBE_CHECK(stack.defined() && (stack.dim() == 2 || stack.dim() == 3) && stack.size(-2) == m.H &&
                 stack.size(-1) == m.W,
             path, ": append needs (n, ", m.H, ", ", m.W, ") pages, got ", describe(stack));
  const Tensor s = stack.to(Device::cpu()).to(DType::f32).contiguous();
  const int64_t n = s.dim() == 3 ? s.size(0) : 1;
  ABBE_CHECK(m.written + n <= m.pages, path, ": more than the ", m.pages, " pages announced");
  if (m.fmt != TiffFormat::float32)
    for (int64_t k = 0; k < s.numel(); ++k)
      if (std::isnan(s.data<float>()[k]))
        ABBE_FAIL(path, ": a NaN in page ", m.written + k / (m.H * m.W), " cannot be written as ",
                  tiff_format_name(m.fmt));
  write_pages(m.f, path, s.data<float>(), m.written, n, m.H, m.W, m.fmt, imagej_description(m.pages));
  m.written += n;
}

void TiffStackWriter::commit() {
  Impl& m = *impl_;
  const std::string& path = m.file.path();
  ABBE_CHECK(m.written == m.pages, path, ": ", m.written, " of ", m.pages, " pages written");
  if (!TIFFFlush(m.f.get())) ABBE_FAIL(path, ": write failed", m.f.detail());
  m.f.close();
  if (m.f.has_errors()) ABBE_FAIL(path, ": write failed", m.f.detail());
  m.file.commit();
}

}  // namespace abbe::io
