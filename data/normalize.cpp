#include "data/normalize.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <vector>

namespace abbe::io {
namespace {

// A contiguous float32 CPU copy of x (or x itself when it already is one), checked finite.
Tensor prepare(const Tensor& x, const char* fn) {
  ABBE_CHECK(x.defined(), fn, ": undefined tensor");
  check_finite(x, std::string(fn) + " input");
  return x.to(Device::cpu()).to(DType::f32).contiguous();
}

// Applies v -> (v - sub) * scale in double precision into a new float32 tensor.
Tensor affine(const Tensor& x, double sub, double scale, bool clip) {
  Tensor out = Tensor::empty(x.shape(), DType::f32);
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t k = 0; k < n; ++k) {
    double v = (src[k] - sub) * scale;
    if (clip) v = std::clamp(v, 0.0, 1.0);
    dst[k] = static_cast<float>(v);
  }
  return out;
}

std::pair<float, float> min_and_max(const Tensor& x) {
  const float* p = x.data<float>();
  float lo = p[0], hi = p[0];
  for (int64_t k = 1; k < x.numel(); ++k) {
    lo = std::min(lo, p[k]);
    hi = std::max(hi, p[k]);
  }
  return {lo, hi};
}

// numpy's "linear" method: position p/100 * (n-1) between the sorted values, and numpy's lerp
// (which computes from the nearer end when t >= 0.5, so p=100 gives the maximum exactly).
double percentile_sorted_select(std::vector<float>& v, double p) {
  const size_t n = v.size();
  const double pos = p / 100.0 * static_cast<double>(n - 1);
  const size_t i = std::min(static_cast<size_t>(std::floor(pos)), n - 1);
  const double t = pos - static_cast<double>(i);
  std::nth_element(v.begin(), v.begin() + i, v.end());
  const double a = v[i];
  if (i + 1 >= n || t == 0) return a;
  const double b = *std::min_element(v.begin() + i + 1, v.end());
  const double d = b - a;
  return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

void check_p(double p, const char* fn) {
  ABBE_CHECK(p >= 0 && p <= 100, fn, ": percentile must be in [0, 100], got ", p);
}

}  // namespace

Tensor min_max(const Tensor& x) {
  const Tensor c = prepare(x, "min_max");
  if (c.numel() == 0) return Tensor::empty(c.shape(), DType::f32);
  const auto [lo, hi] = min_and_max(c);
  const double range = double(hi) - double(lo);
  return affine(c, lo, range > 0 ? 1.0 / range : 0.0, false);
}

double percentile(const Tensor& x, double p) {
  check_p(p, "percentile");
  const Tensor c = prepare(x, "percentile");
  ABBE_CHECK(c.numel() > 0, "percentile: empty tensor");
  std::vector<float> v = c.to_vector<float>();
  return percentile_sorted_select(v, p);
}

Tensor percentile_normalize(const Tensor& x, double p_low, double p_high, bool clip) {
  check_p(p_low, "percentile_normalize");
  check_p(p_high, "percentile_normalize");
  ABBE_CHECK(p_low <= p_high, "percentile_normalize: p_low ", p_low, " > p_high ", p_high);
  const Tensor c = prepare(x, "percentile_normalize");
  if (c.numel() == 0) return Tensor::empty(c.shape(), DType::f32);
  std::vector<float> v = c.to_vector<float>();
  // The selections reorder v; each needs the full multiset, which nth_element preserves.
  const double lo = percentile_sorted_select(v, p_low);
  const double hi = percentile_sorted_select(v, p_high);
  return affine(c, lo, 1.0 / (hi - lo + 1e-20), clip);
}

Tensor divide_by_max(const Tensor& x) {
  const Tensor c = prepare(x, "divide_by_max");
  if (c.numel() == 0) return Tensor::empty(c.shape(), DType::f32);
  const auto [lo, hi] = min_and_max(c);
  if (hi == 0 && lo == 0) return Tensor::zeros(c.shape(), DType::f32);
  ABBE_CHECK(hi > 0, "divide_by_max: the maximum is ", hi, "; it must be positive");
  return affine(c, 0.0, 1.0 / hi, false);
}

void check_finite(const Tensor& x, const std::string& what) {
  ABBE_CHECK(x.defined(), what, ": undefined tensor");
  const Tensor c = x.to(Device::cpu()).contiguous();
  const int64_t n = c.numel();
  int64_t bad = -1;
  double value = 0;
  dispatch_float(c.dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    const scalar_t* p = c.data<scalar_t>();
    for (int64_t k = 0; k < n; ++k)
      if (!std::isfinite(p[k])) {
        bad = k;
        value = p[k];
        return;
      }
  });
  if (bad < 0) return;
  Shape index(c.shape().size());
  int64_t rest = bad;
  for (int d = c.dim() - 1; d >= 0; --d) {
    index[d] = rest % c.shape()[d];
    rest /= c.shape()[d];
  }
  ABBE_FAIL(what, ": non-finite value ", value, " at index ", index, " of ", describe(x));
}

Tensor blur_target(const Tensor& x) {
  check_finite(x, "blur_target input");
  ABBE_CHECK(x.dim() >= 2, "blur_target: input must be (..., H, W), got ", describe(x));
  const int64_t H = x.size(-2), W = x.size(-1), planes = x.numel() / std::max<int64_t>(H * W, 1);
  const auto v = x.to(DType::f64).to_vector<double>();
  const double side = std::exp(-1.0 / (2 * 0.4 * 0.4)), norm = 1 + 2 * side;
  const double k[3] = {side / norm, 1 / norm, side / norm};
  auto at = [](int64_t i, int64_t n) {
    return n == 1 ? 0 : i < 0 ? -i : i >= n ? 2 * n - 2 - i : i;
  };
  std::vector<float> out(v.size());
  std::vector<double> tmp(static_cast<size_t>(H * W));
  for (int64_t p = 0; p < planes; ++p) {
    const double* src = v.data() + p * H * W;
    for (int64_t y = 0; y < H; ++y)
      for (int64_t c = 0; c < W; ++c) {
        double s = 0;
        for (int d = -1; d <= 1; ++d) s += k[d + 1] * src[y * W + at(c + d, W)];
        tmp[y * W + c] = s;
      }
    for (int64_t y = 0; y < H; ++y)
      for (int64_t c = 0; c < W; ++c) {
        double s = 0;
        for (int d = -1; d <= 1; ++d) s += k[d + 1] * tmp[at(y + d, H) * W + c];
        out[p * H * W + y * W + c] = static_cast<float>(s);
      }
  }
  return Tensor::from_vector(out, x.shape());
}

}  // namespace abbe::io
