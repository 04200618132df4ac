// Modulated deformable convolution (DCNv2), torchvision.ops.deform_conv2d's semantics: checks,
// device dispatch and the backward rule (one kernel call gives every gradient).
#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/deform_conv.h"
#include "kernels/cuda/deform_conv.h"

namespace abbe {

namespace k = kernels::cpu;

Tensor deform_conv2d(const Tensor& x, const Tensor& offset, const Tensor& mask, const Tensor& w, const Tensor& b,
                     const Conv2dOptions& o) {
  const Device dev = common_device(Op::deform_conv2d, {&x, &offset, &mask, &w, &b});
  ABBE_CHECK(x.dim() == 4, "deform_conv2d: input must be (N,C,H,W), got ", describe(x));
  ABBE_CHECK(w.dim() == 4, "deform_conv2d: weight must be (K, C/groups, R, S), got ", describe(w));
  ABBE_CHECK(o.stride_h > 0 && o.stride_w > 0 && o.dil_h > 0 && o.dil_w > 0 && o.pad_h >= 0 && o.pad_w >= 0,
             "deform_conv2d: stride and dilation must be positive, padding non-negative");
  ABBE_CHECK(o.groups >= 1 && x.size(1) % o.groups == 0 && w.size(0) % o.groups == 0 &&
                 w.size(1) * o.groups == x.size(1),
             "deform_conv2d: weight ", w.shape(), " with groups=", o.groups, " does not fit input ", x.shape());
  for (const Tensor* t : {&offset, &mask, &w, &b})
    if (t->defined())
      ABBE_CHECK(t->dtype() == x.dtype(), "deform_conv2d: dtypes differ (", describe(x), " vs ", describe(*t), ")");
  k::DeformConv2dShape s{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3)};
  s.stride_h = o.stride_h, s.stride_w = o.stride_w, s.pad_h = o.pad_h, s.pad_w = o.pad_w;
  s.dil_h = o.dil_h, s.dil_w = o.dil_w, s.groups = o.groups;
  const int64_t taps = s.R * s.S, P = s.P(), Q = s.Q();
  ABBE_CHECK((s.H + 3) * (s.W + 2) < (int64_t(1) << 31), "deform_conv2d: input planes of ", s.H, "x", s.W,
             " are too large (the kernels index a padded plane with 32 bits)");
  ABBE_CHECK(P > 0 && Q > 0, "deform_conv2d: input ", x.shape(), " is smaller than the kernel ", w.shape());
  ABBE_CHECK(offset.dim() == 4 && offset.size(0) == s.N && offset.size(1) % (2 * taps) == 0 && offset.size(1) > 0 &&
                 offset.size(2) == P && offset.size(3) == Q,
             "deform_conv2d: offset must be (N, 2*G*", taps, ", ", P, ", ", Q, "), got ", describe(offset));
  s.offset_groups = offset.size(1) / (2 * taps);
  ABBE_CHECK(s.C % s.offset_groups == 0, "deform_conv2d: ", s.C, " input channels are not divisible by the ",
             s.offset_groups, " offset groups");
  if (mask.defined())
    ABBE_CHECK(mask.shape() == Shape({s.N, s.offset_groups * taps, P, Q}), "deform_conv2d: mask must be (",
               s.N, ", ", s.offset_groups * taps, ", ", P, ", ", Q, "), got ", describe(mask));
  if (b.defined()) ABBE_CHECK(b.shape() == Shape({s.K}), "deform_conv2d: bias must be (", s.K, "), got ", describe(b));

  Tensor xc = x.contiguous(), oc = offset.contiguous(), mc = mask.defined() ? mask.contiguous() : mask;
  Tensor wc = w.contiguous(), bc = b.defined() ? b.contiguous() : b;
  Tensor y = Tensor::empty({s.N, s.K, P, Q}, x.dtype(), dev);
  auto ptr = [](const Tensor& t, auto tag) {
    using T = decltype(tag);
    return t.defined() ? t.data<T>() : static_cast<T*>(nullptr);
  };
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kCudaBackend) {
      if (dev.is_cuda()) {
        Storage workspace(kernels::cuda::deform_conv2d_workspace_bytes(s), dev);
        return kernels::cuda::deform_conv2d_forward<T>(s, xc.data<T>(), oc.data<T>(), ptr(mc, tag), wc.data<T>(),
                                                       ptr(bc, tag), y.data<T>(), workspace.data(), cuda_stream());
      }
    }
    k::deform_conv2d_forward<T>(s, xc.data<T>(), oc.data<T>(), ptr(mc, tag), wc.data<T>(), ptr(bc, tag), y.data<T>());
  });

  const bool has_mask = mask.defined(), has_bias = b.defined();
  Tensor xd = xc.detach(), od = oc.detach(), md = has_mask ? mc.detach() : Tensor(), wd = wc.detach();
  return autograd::record("deform_conv2d", y, {x, offset, mask, w, b}, [=](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(xd.shape(), xd.dtype(), dev), doff = Tensor::empty(od.shape(), od.dtype(), dev);
    Tensor dm = has_mask ? Tensor::empty(md.shape(), md.dtype(), dev) : Tensor();
    Tensor dw = Tensor::empty(wd.shape(), wd.dtype(), dev);
    Tensor db = has_bias ? Tensor::empty({s.K}, wd.dtype(), dev) : Tensor();
    dispatch_float(xd.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if constexpr (kCudaBackend) {
        if (dev.is_cuda()) {
          Storage workspace(kernels::cuda::deform_conv2d_workspace_bytes(s), dev);
          return kernels::cuda::deform_conv2d_backward<T>(
              s, xd.data<T>(), od.data<T>(), ptr(md, tag), wd.data<T>(), gc.data<T>(), dx.data<T>(), doff.data<T>(),
              ptr(dm, tag), dw.data<T>(), ptr(db, tag), workspace.data(), cuda_stream());
        }
      }
      k::deform_conv2d_backward<T>(s, xd.data<T>(), od.data<T>(), ptr(md, tag), wd.data<T>(), gc.data<T>(),
                                   dx.data<T>(), doff.data<T>(), ptr(dm, tag), dw.data<T>(), ptr(db, tag));
    });
    return std::vector<Tensor>{dx, doff, dm, dw, db};
  });
}

}  // namespace abbe
