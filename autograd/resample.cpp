// pixel_shuffle / pixel_unshuffle and bilinear / nearest upsampling (F.interpolate semantics).
#include <cmath>

#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/resample.h"
#include "kernels/cuda/resample.h"

namespace abbe {


namespace {

void check_4d(const char* op, const Tensor& x) {
  ABBE_CHECK(x.dim() == 4, op, ": input must be 4-D (N,C,H,W), got ", x.shape());
}

// Runs kernel(in_ptr, out_ptr) on a contiguous copy of `in` into a new tensor of `out_shape`.
template <typename Kernel>
Tensor run(const Tensor& in, const Shape& out_shape, Kernel kernel) {
  Tensor c = in.contiguous();
  Tensor out = Tensor::empty(out_shape, c.dtype(), c.device());
  dispatch_float(c.dtype(), [&](auto tag) {
    using T = decltype(tag);
    kernel(c.device(), c.data<T>(), out.data<T>());
  });
  return out;
}

}  // namespace

Tensor pixel_shuffle(const Tensor& x, int r) {
  common_device(Op::pixel_shuffle, {&x});
  check_4d("pixel_shuffle", x);
  ABBE_CHECK(r >= 1 && x.size(1) % (r * r) == 0, "pixel_shuffle: ", x.size(1),
             " channels are not divisible by r^2 = ", r * r);
  const int64_t N = x.size(0), C = x.size(1) / (r * r), H = x.size(2), W = x.size(3);
  Tensor y = run(x, {N, C, H * r, W * r}, [&](Device d, auto* in, auto* out) {
    ABBE_KERNEL(d, pixel_shuffle_forward, N, C, H, W, int64_t(r), in, out);
  });
  const Shape in_shape = x.shape();
  return autograd::record("pixel_shuffle", y, {x}, [=](const Tensor& g) {
    return std::vector<Tensor>{run(g, in_shape, [&](Device d, auto* dy, auto* dx) {
      ABBE_KERNEL(d, pixel_shuffle_backward, N, C, H, W, int64_t(r), dy, dx);
    })};
  });
}

Tensor pixel_unshuffle(const Tensor& x, int r) {
  common_device(Op::pixel_unshuffle, {&x});
  check_4d("pixel_unshuffle", x);
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  ABBE_CHECK(r >= 1 && H % r == 0 && W % r == 0, "pixel_unshuffle: spatial size ", H, "x", W,
             " is not divisible by r = ", r);
  Tensor y = run(x, {N, C * r * r, H / r, W / r}, [&](Device d, auto* in, auto* out) {
    ABBE_KERNEL(d, pixel_unshuffle_forward, N, C, H, W, int64_t(r), in, out);
  });
  const Shape in_shape = x.shape();
  return autograd::record("pixel_unshuffle", y, {x}, [=](const Tensor& g) {
    return std::vector<Tensor>{run(g, in_shape, [&](Device d, auto* dy, auto* dx) {
      ABBE_KERNEL(d, pixel_unshuffle_backward, N, C, H, W, int64_t(r), dy, dx);
    })};
  });
}

namespace {

Tensor bilinear(const Tensor& x, int64_t P, int64_t Q, double sh, double sw, bool ac) {
  common_device(Op::upsample_bilinear, {&x});
  check_4d("upsample_bilinear", x);
  ABBE_CHECK(P > 0 && Q > 0, "upsample_bilinear: output size ", P, "x", Q, " must be positive");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = run(x, {N, C, P, Q}, [&](Device d, auto* in, auto* out) {
    ABBE_KERNEL(d, upsample_bilinear_forward, N, C, H, W, P, Q, ac, sh, sw, in, out);
  });
  const Shape in_shape = x.shape();
  return autograd::record("upsample_bilinear", y, {x}, [=](const Tensor& g) {
    return std::vector<Tensor>{run(g, in_shape, [&](Device d, auto* dy, auto* dx) {
      ABBE_KERNEL(d, upsample_bilinear_backward, N, C, H, W, P, Q, ac, sh, sw, dy, dx);
    })};
  });
}

Tensor nearest(const Tensor& x, int64_t P, int64_t Q, double sh, double sw) {
  common_device(Op::upsample_nearest, {&x});
  check_4d("upsample_nearest", x);
  ABBE_CHECK(P > 0 && Q > 0, "upsample_nearest: output size ", P, "x", Q, " must be positive");
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  Tensor y = run(x, {N, C, P, Q}, [&](Device d, auto* in, auto* out) {
    ABBE_KERNEL(d, upsample_nearest_forward, N, C, H, W, P, Q, sh, sw, in, out);
  });
  const Shape in_shape = x.shape();
  return autograd::record("upsample_nearest", y, {x}, [=](const Tensor& g) {
    return std::vector<Tensor>{run(g, in_shape, [&](Device d, auto* dy, auto* dx) {
      ABBE_KERNEL(d, upsample_nearest_backward, N, C, H, W, P, Q, sh, sw, dy, dx);
    })};
  });
}

int64_t scaled(int64_t in, double scale) {
  return static_cast<int64_t>(std::floor(static_cast<double>(in) * scale));
}

}  // namespace

Tensor upsample_bilinear(const Tensor& x, double scale, bool align_corners) {
  ABBE_CHECK(scale > 0, "upsample_bilinear: scale must be positive, got ", scale);
  check_4d("upsample_bilinear", x);
  return bilinear(x, scaled(x.size(2), scale), scaled(x.size(3), scale), scale, scale, align_corners);
}
Tensor upsample_bilinear_to(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners) {
  return bilinear(x, out_h, out_w, 0, 0, align_corners);
}
Tensor upsample_nearest(const Tensor& x, double scale) {
  ABBE_CHECK(scale > 0, "upsample_nearest: scale must be positive, got ", scale);
  check_4d("upsample_nearest", x);
  return nearest(x, scaled(x.size(2), scale), scaled(x.size(3), scale), scale, scale);
}
Tensor upsample_nearest_to(const Tensor& x, int64_t out_h, int64_t out_w) {
  return nearest(x, out_h, out_w, 0, 0);
}

}  // namespace abbe
