// complex_abs, complex_angle, polar: pointwise over (re, im) pairs in the last dim.
#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/complex.h"
#include "kernels/cuda/complex.h"

namespace abbe {

namespace {

void check_complex(const char* op, const Tensor& z) {
  ABBE_CHECK(z.dim() >= 1 && z.size(-1) == 2, op, ": expected a complex tensor (..., 2) of (re, im) pairs, got ",
             describe(z));
}

// (..., 2) -> (...)
Shape drop_last(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

}  // namespace

Tensor complex_abs(const Tensor& z) {
  const Device dev = common_device(Op::complex_abs, {&z});
  check_complex("complex_abs", z);
  Tensor zc = z.contiguous();
  Tensor y = Tensor::empty(drop_last(z.shape()), z.dtype(), dev);
  dispatch_float(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ABBE_KERNEL(dev, complex_abs_forward<T>, y.numel(), zc.data<T>(), y.data<T>());
  });
  Tensor yd = y.detach();
  return autograd::record("complex_abs", y, {z}, [zc, yd](const Tensor& g) {
    Tensor gc = g.contiguous(), dz = Tensor::empty(zc.shape(), zc.dtype(), zc.device());
    dispatch_float(zc.dtype(), [&](auto tag) {
      using T = decltype(tag);
      ABBE_KERNEL(dz.device(), complex_abs_backward<T>, yd.numel(), zc.data<T>(), yd.data<T>(), gc.data<T>(),
                  dz.data<T>());
    });
    return std::vector<Tensor>{dz};
  });
}

Tensor complex_angle(const Tensor& z) {
  const Device dev = common_device(Op::complex_angle, {&z});
  check_complex("complex_angle", z);
  Tensor zc = z.contiguous();
  Tensor y = Tensor::empty(drop_last(z.shape()), z.dtype(), dev);
  dispatch_float(z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ABBE_KERNEL(dev, complex_angle_forward<T>, y.numel(), zc.data<T>(), y.data<T>());
  });
  return autograd::record("complex_angle", y, {z}, [zc](const Tensor& g) {
    Tensor gc = g.contiguous(), dz = Tensor::empty(zc.shape(), zc.dtype(), zc.device());
    dispatch_float(zc.dtype(), [&](auto tag) {
      using T = decltype(tag);
      ABBE_KERNEL(dz.device(), complex_angle_backward<T>, gc.numel(), zc.data<T>(), gc.data<T>(), dz.data<T>());
    });
    return std::vector<Tensor>{dz};
  });
}

Tensor polar(const Tensor& amp, const Tensor& phase) {
  const Device dev = common_device(Op::polar, {&amp, &phase});
  check_same_shape(amp, phase, "polar: amplitude vs phase");
  ABBE_CHECK(amp.dtype() == phase.dtype(), "polar: amplitude ", amp.dtype(), " vs phase ", phase.dtype());
  Shape out = amp.shape();
  out.push_back(2);
  Tensor ac = amp.contiguous(), pc = phase.contiguous();
  Tensor z = Tensor::empty(out, amp.dtype(), dev);
  dispatch_float(amp.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ABBE_KERNEL(dev, polar_forward<T>, ac.numel(), ac.data<T>(), pc.data<T>(), z.data<T>());
  });
  return autograd::record("polar", z, {amp, phase}, [ac, pc](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor da = Tensor::empty(ac.shape(), ac.dtype(), ac.device());
    Tensor dp = Tensor::empty(pc.shape(), pc.dtype(), pc.device());
    dispatch_float(ac.dtype(), [&](auto tag) {
      using T = decltype(tag);
      ABBE_KERNEL(da.device(), polar_backward<T>, ac.numel(), ac.data<T>(), pc.data<T>(), gc.data<T>(),
                  da.data<T>(), dp.data<T>());
    });
    return std::vector<Tensor>{da, dp};
  });
}

}  // namespace abbe
