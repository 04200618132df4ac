// conv2d and conv_transpose2d: shape checks, device dispatch, and the backward rule
// (grad_input = backward_data, grad_weight/grad_bias = backward_weight).
#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/conv.h"
#include "kernels/cuda/conv.h"

namespace abbe {

namespace k = kernels::cpu;

namespace {

void check_conv_args(const char* op, const Tensor& x, const Tensor& w, const Tensor& b,
                     int64_t w_in, int64_t groups) {
  ABBE_CHECK(x.dim() == 4, op, ": input must be 4-D (N,C,H,W), got ", x.shape());
  ABBE_CHECK(w.dim() == 4, op, ": weight must be 4-D, got ", w.shape());
  ABBE_CHECK(x.dtype() == w.dtype(), op, ": input ", x.dtype(), " vs weight ", w.dtype());
  ABBE_CHECK(groups >= 1 && x.size(1) % groups == 0, op, ": ", x.size(1),
             " input channels are not divisible by groups=", groups);
  ABBE_CHECK(w_in == x.size(1), op, ": weight ", w.shape(), " expects ", w_in,
             " input channels, input ", x.shape(), " has ", x.size(1));
  if (b.defined())
    ABBE_CHECK(b.dim() == 1 && b.dtype() == x.dtype(), op, ": bias must be 1-D ", x.dtype(),
               ", got ", describe(b));
}

// The part conv2d and conv_transpose2d share once their shape is known: run the forward
// kernel, and record a backward that runs backward_data for x and backward_weight for w and b.
// S is the kernel shape struct; the kernels are passed as generic lambdas over (device, shape,
// pointers).
template <typename S, typename Fwd, typename BwdData, typename BwdWeight>
Tensor run_conv(const char* name, const S& s, const Tensor& x, const Tensor& w, const Tensor& b,
                Fwd fwd, BwdData bwd_data, BwdWeight bwd_weight) {
  Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : b;
  Tensor y = Tensor::empty({s.N, s.K, s.P(), s.Q()}, x.dtype(), x.device());
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    fwd(x.device(), s, xc.data<T>(), wc.data<T>(), bc.defined() ? bc.data<T>() : static_cast<T*>(nullptr), y.data<T>());
  });
  const bool gx = x.requires_grad(), gw = w.requires_grad() || (b.defined() && b.requires_grad());
  const bool has_bias = b.defined();
  Tensor xd = xc.detach(), wd = wc.detach();
  return autograd::record(name, y, {x, w, b}, [=](const Tensor& g) {
    Tensor gc = g.contiguous(), dx, dw, db;
    dispatch_float(xd.dtype(), [&](auto tag) {
      using T = decltype(tag);
      if (gx) {
        dx = Tensor::empty(xd.shape(), xd.dtype(), xd.device());
        bwd_data(xd.device(), s, gc.data<T>(), wd.data<T>(), dx.data<T>());
      }
      if (gw) {
        dw = Tensor::empty(wd.shape(), wd.dtype(), wd.device());
        if (has_bias) db = Tensor::empty({s.K}, wd.dtype(), wd.device());
        bwd_weight(wd.device(), s, xd.data<T>(), gc.data<T>(), dw.data<T>(), has_bias ? db.data<T>() : static_cast<T*>(nullptr));
      }
    });
    return std::vector<Tensor>{dx, dw, db};
  });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dOptions& o) {
  common_device(Op::conv2d, {&x, &w, &b});
  ABBE_CHECK(o.stride_h > 0 && o.stride_w > 0 && o.dil_h > 0 && o.dil_w > 0 && o.pad_h >= 0 &&
                 o.pad_w >= 0, "conv2d: stride and dilation must be positive, padding non-negative");
  check_conv_args("conv2d", x, w, b, w.dim() == 4 ? w.size(1) * o.groups : 0, o.groups);
  k::Conv2dShape s{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3),
                   o.stride_h, o.stride_w, o.pad_h, o.pad_w, o.dil_h, o.dil_w, o.groups};
  ABBE_CHECK(s.K % o.groups == 0, "conv2d: ", s.K, " output channels not divisible by groups=", o.groups);
  if (b.defined()) ABBE_CHECK(b.size(0) == s.K, "conv2d: bias has ", b.size(0), " entries, weight ", w.shape());
  ABBE_CHECK(s.P() > 0 && s.Q() > 0, "conv2d: input ", x.shape(), " is smaller than the kernel ",
             w.shape(), " (with padding ", o.pad_h, "x", o.pad_w, ", dilation ", o.dil_h, ")");
  return run_conv(
      "conv2d", s, x, w, b,
      [](Device d, const auto& sh, auto* px, auto* pw, auto* pb, auto* py) {
        ABBE_KERNEL(d, conv2d_forward, sh, px, pw, pb, py);
      },
      [](Device d, const auto& sh, auto* pdy, auto* pw, auto* pdx) {
        ABBE_KERNEL(d, conv2d_backward_data, sh, pdy, pw, pdx);
      },
      [](Device d, const auto& sh, auto* px, auto* pdy, auto* pdw, auto* pdb) {
        ABBE_KERNEL(d, conv2d_backward_weight, sh, px, pdy, pdw, pdb);
      });
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& b,
                        const ConvTranspose2dOptions& o) {
  common_device(Op::conv_transpose2d, {&x, &w, &b});
  ABBE_CHECK(o.stride_h > 0 && o.stride_w > 0 && o.dil_h > 0 && o.dil_w > 0 && o.pad_h >= 0 &&
                 o.pad_w >= 0, "conv_transpose2d: stride and dilation must be positive, padding non-negative");
  ABBE_CHECK(o.out_pad_h >= 0 && o.out_pad_w >= 0 && o.out_pad_h < o.stride_h && o.out_pad_w < o.stride_w,
             "conv_transpose2d: output_padding (", o.out_pad_h, ", ", o.out_pad_w,
             ") must be non-negative and smaller than the stride (", o.stride_h, ", ", o.stride_w, ")");
  check_conv_args("conv_transpose2d", x, w, b, w.dim() == 4 ? w.size(0) : 0, o.groups);
  k::ConvTranspose2dShape s{x.size(0), x.size(1), x.size(2), x.size(3), w.size(1) * o.groups,
                            w.size(2), w.size(3), o.stride_h, o.stride_w, o.pad_h, o.pad_w,
                            o.out_pad_h, o.out_pad_w, o.dil_h, o.dil_w, o.groups};
  if (b.defined()) ABBE_CHECK(b.size(0) == s.K, "conv_transpose2d: bias has ", b.size(0), " entries, weight ", w.shape());
  ABBE_CHECK(s.P() > 0 && s.Q() > 0, "conv_transpose2d: empty output for input ", x.shape());
  return run_conv(
      "conv_transpose2d", s, x, w, b,
      [](Device d, const auto& sh, auto* px, auto* pw, auto* pb, auto* py) {
        ABBE_KERNEL(d, conv_transpose2d_forward, sh, px, pw, pb, py);
      },
      [](Device d, const auto& sh, auto* pdy, auto* pw, auto* pdx) {
        ABBE_KERNEL(d, conv_transpose2d_backward_data, sh, pdy, pw, pdx);
      },
      [](Device d, const auto& sh, auto* px, auto* pdy, auto* pdw, auto* pdb) {
        ABBE_KERNEL(d, conv_transpose2d_backward_weight, sh, px, pdy, pdw, pdb);
      });
}

}  // namespace abbe
