#include "data/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "data/png.h"
#include "graph/error.h"

namespace abbe::io {

void write_curve_png(const std::string& path, const std::vector<double>& xs, const std::vector<double>& ys,
                     int W, int H) {
  ABBE_CHECK(xs.size() == ys.size() && !xs.empty(), "curve plot: need as many x as y values, at least one");
  ABBE_CHECK(W >= 64 && H >= 64 && W <= 8192 && H <= 8192, "curve plot: size out of range");
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (size_t i = 0; i < xs.size(); ++i)
    if (std::isfinite(xs[i]) && std::isfinite(ys[i]))
      x0 = std::min(x0, xs[i]), x1 = std::max(x1, xs[i]), y0 = std::min(y0, ys[i]), y1 = std::max(y1, ys[i]);
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // nothing finite: empty axes
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  std::vector<uint8_t> rgb(static_cast<size_t>(W) * H * 3, 255);
  const int m = 20, pw = W - 2 * m, ph = H - 2 * m;
  auto put = [&](int x, int y, uint8_t r, uint8_t g, uint8_t b) {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    uint8_t* p = &rgb[(static_cast<size_t>(y) * W + x) * 3];
    p[0] = r, p[1] = g, p[2] = b;
  };
  for (int i = 0; i <= pw; ++i) put(m + i, m + ph, 0, 0, 0);
  for (int i = 0; i <= ph; ++i) put(m, m + i, 0, 0, 0);
  auto to_px = [&](double x, double y, int& px, int& py) {
    px = m + static_cast<int>(std::lround((x - x0) / (x1 - x0) * pw));
    py = m + static_cast<int>(std::lround((1 - (y - y0) / (y1 - y0)) * ph));
  };
  bool have = false;
  int lx = 0, ly = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    if (!std::isfinite(xs[i]) || !std::isfinite(ys[i])) continue;
    int px, py;
    to_px(xs[i], ys[i], px, py);
    if (have) {  // a line from the previous point
      const int n = std::max(std::abs(px - lx), std::abs(py - ly));
      for (int k = 0; k <= n; ++k) {
        const double a = n ? double(k) / n : 0;
        put(static_cast<int>(std::lround(lx + a * (px - lx))), static_cast<int>(std::lround(ly + a * (py - ly))),
            40, 90, 200);
      }
    } else {
      put(px, py, 40, 90, 200);
    }
    have = true, lx = px, ly = py;
  }
  write_png_rgb(path, rgb, H, W);
}

}  // namespace abbe::io
