#pragma once
// 8-bit PNG output for previews and figure panels ("input | SR | truth"), via libpng's simplified
// API (no setjmp/longjmp crossing C++ frames). Writes are atomic.
#include <cstdint>
#include <string>
#include <vector>

#include "graph/tensor.h"

namespace abbe::io {

// img: (H, W), float32 or float64, values in [0, 1] (clipped; 1 -> 255). NaN is an error.
void write_png_gray(const std::string& path, const Tensor& img);
// rgb: H * W * 3 bytes, row-major, R G B per pixel.
void write_png_rgb(const std::string& path, const std::vector<uint8_t>& rgb, int64_t H, int64_t W);

// Tiles (H_i, W_i) images left to right, `gap` columns apart, top-aligned, into one
// (max H_i, sum W_i + gap * (n - 1)) float32 image; the gaps and the space below shorter images
// hold `fill`. Images of different sizes are placed as they are (the caller upsamples).
Tensor hconcat_panel(const std::vector<Tensor>& images, int gap, float fill = 1.0f);

}  // namespace abbe::io
