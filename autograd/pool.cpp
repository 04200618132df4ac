// avg_pool2d and max_pool2d (PyTorch semantics, including ceil_mode and count_include_pad).
#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/pool.h"
#include "kernels/cuda/pool.h"

namespace abbe {

namespace k = kernels::cpu;

namespace {

k::Pool2dShape pool_shape(const char* op, const Tensor& x, const Pool2dOptions& o) {
  ABBE_CHECK(x.dim() == 4, op, ": input must be 4-D (N,C,H,W), got ", x.shape());
  ABBE_CHECK(o.kernel_h > 0 && o.kernel_w > 0 && o.stride_h > 0 && o.stride_w > 0, op,
             ": kernel and stride must be positive");
  ABBE_CHECK(o.pad_h >= 0 && o.pad_w >= 0 && 2 * o.pad_h <= o.kernel_h && 2 * o.pad_w <= o.kernel_w,
             op, ": padding must be at most half the kernel size");
  k::Pool2dShape s{x.size(0), x.size(1), x.size(2), x.size(3), o.kernel_h, o.kernel_w, o.stride_h,
                   o.stride_w, o.pad_h, o.pad_w, 1, 1, o.ceil_mode, o.count_include_pad};
  ABBE_CHECK(s.P() > 0 && s.Q() > 0, op, ": input ", x.shape(), " is smaller than the ",
             o.kernel_h, "x", o.kernel_w, " window");
  return s;
}

}  // namespace

Tensor avg_pool2d(const Tensor& x, const Pool2dOptions& o) {
  common_device(Op::avg_pool2d, {&x});
  const k::Pool2dShape s = pool_shape("avg_pool2d", x, o);
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({s.N, s.C, s.P(), s.Q()}, x.dtype(), x.device());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ABBE_KERNEL(y.device(), avg_pool2d_forward<T>, s, xc.data<T>(), y.data<T>());
  });
  const Shape in = x.shape();
  return autograd::record("avg_pool2d", y, {x}, [s, in](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(in, g.dtype(), g.device());
    dispatch_float(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      ABBE_KERNEL(dx.device(), avg_pool2d_backward<T>, s, gc.data<T>(), dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
}

Tensor max_pool2d(const Tensor& x, const Pool2dOptions& o) {
  common_device(Op::max_pool2d, {&x});
  const k::Pool2dShape s = pool_shape("max_pool2d", x, o);
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty({s.N, s.C, s.P(), s.Q()}, x.dtype(), x.device());
  // Each output's argmax (h*W + w in its plane), kept on the device for backward.
  auto indices = std::make_shared<Storage>(y.numel() * sizeof(int64_t), x.device());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ABBE_KERNEL(y.device(), max_pool2d_forward<T>, s, xc.data<T>(), y.data<T>(), static_cast<int64_t*>(indices->data()));
  });
  const Shape in = x.shape();
  return autograd::record("max_pool2d", y, {x}, [s, in, indices](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(in, g.dtype(), g.device());
    dispatch_float(g.dtype(), [&](auto tag) {
      using T = decltype(tag);
      ABBE_KERNEL(dx.device(), max_pool2d_backward<T>, s, gc.data<T>(), static_cast<const int64_t*>(indices->data()),
                  dx.data<T>());
    });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace abbe
