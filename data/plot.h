#pragma once
// Minimal raster plots as PNG (no text): a curve over its own x and y ranges, with axes. For
// loss curves next to the JSON-lines logs that hold the numbers.
#include <string>
#include <vector>

namespace abbe::io {

// ys against xs (same length >= 1; non-finite points skipped), W x H pixels, atomic write.
void write_curve_png(const std::string& path, const std::vector<double>& xs, const std::vector<double>& ys,
                     int W = 480, int H = 320);

}  // namespace abbe::io
