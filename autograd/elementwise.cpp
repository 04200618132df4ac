// Elementwise ops: forward through the elementwise kernels of the tensors' device, backward
// composed from the same ops (binary ops) or a dedicated derivative kernel (unary ops).
#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/elementwise.h"
#include "kernels/cuda/elementwise.h"

namespace abbe {

namespace k = kernels::cpu;

namespace {

Shape broadcast_shape(const Shape& a, const Shape& b, const char* op) {
  const int nd = std::max(a.dim(), b.dim());
  Shape out(nd);
  for (int i = 0; i < nd; ++i) {
    const int ia = i - (nd - a.dim()), ib = i - (nd - b.dim());
    const int64_t sa = ia >= 0 ? a[ia] : 1, sb = ib >= 0 ? b[ib] : 1;
    ABBE_CHECK(sa == sb || sa == 1 || sb == 1, op, ": shapes ", a, " and ", b,
               " do not broadcast");
    out[i] = sa == 1 ? sb : sa;
  }
  return out;
}

// Strides of `t` seen through the 5-D padded output shape (0 where broadcast).
void fill_strides(const Tensor& t, const Shape& out, int64_t* st) {
  const int pad = 5 - out.dim(), lead = out.dim() - t.dim();
  for (int i = 0; i < 5; ++i) st[i] = 0;
  for (int i = 0; i < t.dim(); ++i)
    st[pad + lead + i] = t.shape()[i] == 1 ? 0 : t.strides()[i];
}

Tensor binary(Op op, k::BinaryOp kop, const Tensor& a, const Tensor& b) {
  common_device(op, {&a, &b});
  ABBE_CHECK(a.dtype() == b.dtype(), op_name(op), ": dtypes differ (", a.dtype(), " vs ", b.dtype(), ")");
  const Shape shape = broadcast_shape(a.shape(), b.shape(), op_name(op).data());
  Tensor y = Tensor::empty(shape, a.dtype(), a.device());
  k::Broadcast bc;
  const int pad = 5 - shape.dim();
  for (int i = 0; i < 5; ++i) bc.size[i] = i < pad ? 1 : shape[i - pad];
  fill_strides(a, shape, bc.a_stride);
  fill_strides(b, shape, bc.b_stride);
  if (y.numel() > 0) {
    dispatch_float(a.dtype(), [&](auto tag) {
      using scalar_t = decltype(tag);
      ABBE_KERNEL(y.device(), binary_forward<scalar_t>, kop, bc, a.data<scalar_t>(), b.data<scalar_t>(),
                  y.data<scalar_t>());
    });
  }
  return y;
}

Tensor unary(Op op, k::UnaryOp kop, const Tensor& x, double alpha, const char* name) {
  common_device(op, {&x});
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float(x.dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    ABBE_KERNEL(y.device(), unary_forward<scalar_t>, kop, x.numel(), xc.data<scalar_t>(), y.data<scalar_t>(),
                static_cast<scalar_t>(alpha));
  });
  Tensor ys = y.detach();
  return autograd::record(name, y, {x}, [xc, ys, kop, alpha, name](const Tensor& g) {
    Tensor gc = g.contiguous();
    Tensor dx = Tensor::empty(xc.shape(), xc.dtype(), xc.device());
    dispatch_float(xc.dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
      ABBE_KERNEL(dx.device(), unary_backward<scalar_t>, kop, xc.numel(), xc.data<scalar_t>(),
                  ys.data<scalar_t>(), gc.data<scalar_t>(), dx.data<scalar_t>(), static_cast<scalar_t>(alpha));
    });
    return std::vector<Tensor>{dx};
  });
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = binary(Op::add, k::BinaryOp::add, a, b);
  const Shape sa = a.shape(), sb = b.shape();
  return autograd::record("add", y, {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(g, sb)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = binary(Op::sub, k::BinaryOp::sub, a, b);
  const Shape sa = a.shape(), sb = b.shape();
  return autograd::record("sub", y, {a, b}, [sa, sb](const Tensor& g) {
    return std::vector<Tensor>{sum_to(g, sa), sum_to(neg(g), sb)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = binary(Op::mul, k::BinaryOp::mul, a, b);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  Tensor ad = a.detach(), bd = b.detach();
  return autograd::record("mul", y, {a, b}, [ad, bd, ga, gb](const Tensor& g) {
    return std::vector<Tensor>{ga ? sum_to(mul(g, bd), ad.shape()) : Tensor(),
                               gb ? sum_to(mul(g, ad), bd.shape()) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  Tensor y = binary(Op::div, k::BinaryOp::div, a, b);
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  Tensor ad = a.detach(), bd = b.detach();
  return autograd::record("div", y, {a, b}, [ad, bd, ga, gb](const Tensor& g) {
    Tensor gb_ = gb ? sum_to(neg(div(mul(g, ad), mul(bd, bd))), bd.shape()) : Tensor();
    return std::vector<Tensor>{ga ? sum_to(div(g, bd), ad.shape()) : Tensor(), gb_};
  });
}

Tensor add_scalar(const Tensor& x, double s) { return unary(Op::add_scalar, k::UnaryOp::add_scalar, x, s, "add_scalar"); }
Tensor mul_scalar(const Tensor& x, double s) { return unary(Op::mul_scalar, k::UnaryOp::mul_scalar, x, s, "mul_scalar"); }
Tensor neg(const Tensor& x) { return unary(Op::neg, k::UnaryOp::neg, x, 0, "neg"); }
Tensor exp(const Tensor& x) { return unary(Op::exp, k::UnaryOp::exp, x, 0, "exp"); }
Tensor log(const Tensor& x) { return unary(Op::log, k::UnaryOp::log, x, 0, "log"); }
Tensor abs(const Tensor& x) { return unary(Op::abs, k::UnaryOp::abs, x, 0, "abs"); }
Tensor sqrt(const Tensor& x) { return unary(Op::sqrt, k::UnaryOp::sqrt, x, 0, "sqrt"); }
Tensor square(const Tensor& x) { return unary(Op::square, k::UnaryOp::square, x, 0, "square"); }
Tensor relu(const Tensor& x) { return unary(Op::relu, k::UnaryOp::relu, x, 0, "relu"); }
Tensor leaky_relu(const Tensor& x, double slope) {
  return unary(Op::leaky_relu, k::UnaryOp::leaky_relu, x, slope, "leaky_relu");
}
Tensor sigmoid(const Tensor& x) { return unary(Op::sigmoid, k::UnaryOp::sigmoid, x, 0, "sigmoid"); }
Tensor tanh(const Tensor& x) { return unary(Op::tanh, k::UnaryOp::tanh, x, 0, "tanh"); }

Tensor prelu(const Tensor& x, const Tensor& w) {
  common_device(Op::prelu, {&x, &w});
  ABBE_CHECK(w.dim() == 1, "prelu: weight must be 1-D, got ", w.shape());
  const int64_t C = x.dim() >= 2 ? x.size(1) : 1, Cw = w.numel();
  ABBE_CHECK(Cw == 1 || Cw == C, "prelu: weight has ", Cw, " slopes but input ", x.shape(), " has ",
             C, " channels (need 1 or ", C, ")");
  const int64_t N = x.dim() >= 1 ? x.size(0) : 1, inner = x.numel() / std::max<int64_t>(N * C, 1);
  Tensor xc = x.contiguous(), wc = w.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  dispatch_float(x.dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    ABBE_KERNEL(y.device(), prelu_forward<scalar_t>, N, C, inner, Cw, xc.data<scalar_t>(), wc.data<scalar_t>(),
                y.data<scalar_t>());
  });
  return autograd::record("prelu", y, {x, w}, [xc, wc, N, C, inner, Cw](const Tensor& g) {
    Tensor gc = g.contiguous();
    const Device dev = xc.device();
    Tensor dx = Tensor::empty(xc.shape(), xc.dtype(), dev), dw = Tensor::empty(wc.shape(), wc.dtype(), dev);
    dispatch_float(xc.dtype(), [&](auto tag) {
      using scalar_t = decltype(tag);
      if constexpr (kCudaBackend) {
        if (dev.is_cuda()) {  // the CUDA kernel reduces dw through per-row partial sums
          Storage workspace(kernels::cuda::prelu_backward_workspace_bytes(N, C), dev);
          return kernels::cuda::prelu_backward<scalar_t>(N, C, inner, Cw, xc.data<scalar_t>(), wc.data<scalar_t>(),
                                                         gc.data<scalar_t>(), dx.data<scalar_t>(),
                                                         dw.data<scalar_t>(), workspace.data(), cuda_stream());
        }
      }
      k::prelu_backward<scalar_t>(N, C, inner, Cw, xc.data<scalar_t>(), wc.data<scalar_t>(),
                                  gc.data<scalar_t>(), dx.data<scalar_t>(), dw.data<scalar_t>());
    });
    return std::vector<Tensor>{dx, dw};
  });
}

void add_(Tensor& a, const Tensor& b, double alpha) {
  check_same_shape(a, b, "add_");
  ABBE_CHECK(a.is_contiguous(), "add_: destination must be contiguous");
  ABBE_CHECK(a.device() == b.device(), "add_: destination on ", a.device(), ", source on ", b.device());
  Tensor bc = b.to(a.dtype()).contiguous();
  dispatch_float(a.dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    ABBE_KERNEL(a.device(), axpy<scalar_t>, a.numel(), static_cast<scalar_t>(alpha), bc.data<scalar_t>(),
                a.data<scalar_t>());
  });
}

}  // namespace abbe
