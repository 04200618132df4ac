#pragma once
// TIFF stacks through libtiff: grayscale, one sample per pixel, multi-page, strips or tiles, any
// compression this libtiff decodes. Values are returned as the stored numbers (a uint16 65535 is
// 65535.0f), never rescaled; normalisation is the caller's choice (data/normalize.h).
// libtiff's own warnings and errors never reach stderr: errors end up in the thrown abbe::Error,
// whose message names the file and the page.
#include <cstdint>
#include <memory>
#include <string>

#include "graph/tensor.h"

namespace abbe::io {

struct TiffInfo {
  int64_t pages = 0, height = 0, width = 0;
  int bits = 0;            // bits per sample: 8, 16, 32 or 64
  bool is_float = false;   // IEEE float samples
  bool is_signed = false;  // two's complement integer samples
  // From an ImageJ ImageDescription ("ImageJ=1.54f\nimages=60\nchannels=2\nslices=5\n
  // frames=6\n..."). ImageJ stores pages in CZT order (channel fastest):
  // page = (t * slices + z) * channels + c. All 1 when the file is not from ImageJ.
  bool imagej = false;
  int64_t channels = 1, slices = 1, frames = 1;
  std::string description;  // page 0's ImageDescription, "" if absent
};

// (pages, H, W) float32. Throws abbe::Error for RGB or multi-sample images, bit depths other
// than 8/16/32 (64 for float), undecodable compression, pages differing in size or sample
// format, truncated or corrupt data, and ImageJ's raw layout for stacks over 4 GB (one page
// whose description says images=N).
Tensor read_tiff(const std::string& path, TiffInfo* info = nullptr);
// Only the header fields (reads every page's directory, not the pixel data).
TiffInfo read_tiff_info(const std::string& path);

enum class TiffFormat { uint8, uint16, float32 };
const char* tiff_format_name(TiffFormat f);

// stack: (pages, H, W) or (H, W), float32 or float64, any device. Integer formats round to
// nearest and clip to the type's range (NaN is an error naming the element); float32 keeps
// values as they are. Writes an ImageJ ImageDescription (images=frames=pages) so ImageJ/Fiji
// opens a stack as a time series, uncompressed, one strip per page; BigTIFF when the data
// exceed 4 GB. Atomic: a failure leaves no file and no temp file behind.
void write_tiff(const std::string& path, const Tensor& stack, TiffFormat fmt);

// Pages on demand, for stacks longer than memory: the directories are read once at open (what
// read_tiff_info checks; ~1 KB of bookkeeping per page stays), the pixels of a range of pages per
// call. Reading forward (each page the one after the last read) costs O(1) per page; going back
// walks libtiff's directory chain from page 0.
class TiffReader {
 public:
  explicit TiffReader(const std::string& path);
  ~TiffReader();
  TiffReader(const TiffReader&) = delete;
  TiffReader& operator=(const TiffReader&) = delete;
  const TiffInfo& info() const;
  // Pages [first, first + count) as (count, H, W) float32.
  Tensor read(int64_t first, int64_t count);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A stack written page by page, as write_tiff writes it (uncompressed, an ImageJ description
// without the display range, BigTIFF when large), to a temp file that commit() publishes at path
// once every page is in; destroyed before that, it leaves nothing behind.
class TiffStackWriter {
 public:
  TiffStackWriter(const std::string& path, int64_t pages, int64_t H, int64_t W, TiffFormat fmt);
  ~TiffStackWriter();
  TiffStackWriter(const TiffStackWriter&) = delete;
  TiffStackWriter& operator=(const TiffStackWriter&) = delete;
  // (n, H, W) or (H, W), any dtype and device.
  void append(const Tensor& pages);
  void commit();  // fails unless exactly `pages` pages were appended

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace abbe::io
