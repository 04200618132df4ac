#include "data/png.h"

#include <png.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "data/atomic_file.h"

namespace abbe::io {
namespace {

// PNG dimensions are 31-bit; libpng's simplified writer also needs the row stride in an int.
void check_size(const std::string& path, int64_t H, int64_t W, int channels) {
  if (H < 1 || W < 1 || H > 0x7FFFFFFF || W * channels > 0x7FFFFFFF)
    ABBE_FAIL(path, ": cannot write a ", H, "x", W, " PNG");
}

void write_png(const std::string& path, const uint8_t* pixels, int64_t H, int64_t W, bool rgb) {
  write_atomically(path, [&](const std::string& tmp) {
    png_image image;
    std::memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = static_cast<png_uint_32>(W);
    image.height = static_cast<png_uint_32>(H);
    image.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    const png_int_32 stride = static_cast<png_int_32>(W * (rgb ? 3 : 1));
    const int ok = png_image_write_to_file(&image, tmp.c_str(), 0, pixels, stride, nullptr);
    const std::string msg = image.message;
    png_image_free(&image);
    if (!ok) ABBE_FAIL(path, ": PNG write failed: ", msg);
  });
}

}  // namespace

void write_png_gray(const std::string& path, const Tensor& img) {
  ABBE_CHECK(img.defined(), path, ": write_png_gray: undefined tensor");
  if (img.dim() != 2) ABBE_FAIL(path, ": write_png_gray needs an (H, W) image, got ", img.shape());
  const int64_t H = img.size(0), W = img.size(1);
  check_size(path, H, W, 1);
  const Tensor c = img.to(Device::cpu()).to(DType::f32).contiguous();
  const float* src = c.data<float>();
  std::vector<uint8_t> px(static_cast<size_t>(H * W));
  for (int64_t k = 0; k < H * W; ++k) {
    if (std::isnan(src[k]))
      ABBE_FAIL(path, ": pixel (y ", k / W, ", x ", k % W, ") is NaN");
    px[k] = static_cast<uint8_t>(std::lround(std::clamp(src[k], 0.0f, 1.0f) * 255.0f));
  }
  write_png(path, px.data(), H, W, false);
}

void write_png_rgb(const std::string& path, const std::vector<uint8_t>& rgb, int64_t H, int64_t W) {
  check_size(path, H, W, 3);
  if (static_cast<uint64_t>(rgb.size()) != static_cast<uint64_t>(H) * static_cast<uint64_t>(W) * 3)
    ABBE_FAIL(path, ": write_png_rgb got ", rgb.size(), " bytes for a ", H, "x", W,
              " image (needs H * W * 3 = ", H * W * 3, ")");
  write_png(path, rgb.data(), H, W, true);
}

Tensor hconcat_panel(const std::vector<Tensor>& images, int gap, float fill) {
  ABBE_CHECK(!images.empty(), "hconcat_panel: no images");
  ABBE_CHECK(gap >= 0, "hconcat_panel: negative gap ", gap);
  int64_t H = 0, W = static_cast<int64_t>(gap) * static_cast<int64_t>(images.size() - 1);
  for (size_t i = 0; i < images.size(); ++i) {
    const Tensor& t = images[i];
    ABBE_CHECK(t.defined() && t.dim() == 2, "hconcat_panel: image ", i, " must be (H, W), got ",
               t.defined() ? describe(t) : std::string("undefined"));
    H = std::max(H, t.size(0));
    W += t.size(1);
  }
  Tensor out = Tensor::full({H, W}, fill, DType::f32);
  float* dst = out.data<float>();
  int64_t x0 = 0;
  for (const Tensor& t : images) {
    const Tensor c = t.to(Device::cpu()).to(DType::f32).contiguous();
    const float* src = c.data<float>();
    const int64_t h = c.size(0), w = c.size(1);
    for (int64_t y = 0; y < h; ++y) std::copy(src + y * w, src + (y + 1) * w, dst + y * W + x0);
    x0 += w + gap;
  }
  return out;
}

}  // namespace abbe::io
