// rfft2 and irfft2 over the last two dims (norm "backward"), through kernels/cpu/fft.h and
// kernels/cuda/fft.h (cuFFT). Both are linear, so each backward is the other transform with the
// one-sided spectrum's bins reweighted (as PyTorch's fft_r2c_backward / fft_c2r_backward):
//  - rfft2: grad_x[n,m] = Re sum_{k, l < W/2+1} G[k,l] e^{+2 pi i (kn/H + lm/W)}
//           = H W irfft2(G with the interior bins halved), since irfft2 counts those twice;
//  - irfft2: grad_Z = rfft2(g) / (H W) with the interior bins doubled.
// Interior bins: 1 <= l < W/2 + 1, except the Nyquist bin l = W/2 when W is even.
#include "autograd/constants.h"
#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/fft.h"
#include "kernels/cuda/fft.h"

namespace abbe {

namespace {

// x (..., H, W) real -> X (..., H, W/2+1, 2), no autograd.
Tensor rfft2_raw(const Tensor& x) {
  const int64_t H = x.size(-2), W = x.size(-1), B = x.numel() / std::max<int64_t>(H * W, 1);
  Shape out(x.shape().begin(), x.shape().end() - 1);
  out.push_back(W / 2 + 1);
  out.push_back(2);
  Tensor xc = x.contiguous();
  Tensor X = Tensor::empty(out, x.dtype(), x.device());
  if (X.numel() == 0) return X;
  dispatch_float(x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kCudaBackend) {
      if (x.device().is_cuda()) {
        Storage workspace(kernels::cuda::rfft2_workspace_bytes(B, H, W), x.device());
        return kernels::cuda::rfft2<T>(B, H, W, xc.data<T>(), X.data<T>(), workspace.data(), cuda_stream());
      }
    }
    kernels::cpu::rfft2<T>(B, H, W, xc.data<T>(), X.data<T>());
  });
  return X;
}

// Z (..., H, W/2+1, 2) -> x (..., H, W), no autograd.
Tensor irfft2_raw(const Tensor& Z, int64_t W) {
  const int64_t H = Z.size(-3), B = Z.numel() / std::max<int64_t>(2 * H * Z.size(-2), 1);
  Shape out(Z.shape().begin(), Z.shape().end() - 2);
  out.push_back(W);
  Tensor zc = Z.contiguous();
  Tensor x = Tensor::empty(out, Z.dtype(), Z.device());
  if (x.numel() == 0) return x;
  dispatch_float(Z.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if constexpr (kCudaBackend) {
      if (Z.device().is_cuda()) {
        Storage workspace(kernels::cuda::irfft2_workspace_bytes<T>(B, H, W), Z.device());
        return kernels::cuda::irfft2<T>(B, H, W, zc.data<T>(), x.data<T>(), workspace.data(), cuda_stream());
      }
    }
    kernels::cpu::irfft2<T>(B, H, W, zc.data<T>(), x.data<T>());
  });
  return x;
}

// Per-bin weights (W/2+1, 1) on `like`'s device and dtype: `interior` for the bins irfft2 counts
// twice, 1 for DC and Nyquist. Cached (autograd/constants.h): every backward uses them.
const Tensor& bin_weights(int64_t W, double interior, const Tensor& like) {
  const int64_t Wc = W / 2 + 1;
  return autograd::cached_constant(detail::concat("fft.bin_weights.", W, ".", interior), {Wc, 1}, like.dtype(),
                                   like.device(), [&] {
                                     std::vector<double> w(static_cast<size_t>(Wc), interior);
                                     w[0] = 1;
                                     if (W % 2 == 0) w[static_cast<size_t>(Wc - 1)] = 1;
                                     return w;
                                   });
}

}  // namespace

Tensor rfft2(const Tensor& x) {
  common_device(Op::rfft2, {&x});
  ABBE_CHECK(x.dim() >= 2 && x.dim() < kMaxDims, "rfft2: input must have 2 to ", kMaxDims - 1,
             " dims (..., H, W), got ", describe(x));
  const int64_t H = x.size(-2), W = x.size(-1);
  return autograd::record("rfft2", rfft2_raw(x), {x}, [H, W](const Tensor& g) {
    const Tensor halved = mul(g.detach(), bin_weights(W, 0.5, g));
    return std::vector<Tensor>{mul_scalar(irfft2_raw(halved, W), double(H * W))};
  });
}

Tensor irfft2(const Tensor& z, int64_t W) {
  common_device(Op::irfft2, {&z});
  ABBE_CHECK(z.dim() >= 3 && z.size(-1) == 2, "irfft2: input must be a complex spectrum (..., H, W/2+1, 2), got ",
             describe(z));
  ABBE_CHECK(W >= 1 && z.size(-2) == W / 2 + 1, "irfft2: a spectrum of ", z.size(-2),
             " bins along the last dim cannot give W = ", W, " (needs W/2+1 bins)");
  const int64_t H = z.size(-3);
  return autograd::record("irfft2", irfft2_raw(z, W), {z}, [H, W](const Tensor& g) {
    const Tensor doubled = mul(rfft2_raw(g.detach()), bin_weights(W, 2.0, g));
    return std::vector<Tensor>{mul_scalar(doubled, 1.0 / double(H * W))};
  });
}

}  // namespace abbe
