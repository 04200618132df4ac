// laplace_nll (Bayesian DPA-TISR's loss) and mc_statistics (its Monte Carlo outputs): fused
// pointwise kernels on both devices (kernels/{cpu,cuda}/laplace.h); the NLL's mean goes through
// the deterministic sum kernels.
#include <cmath>

#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/laplace.h"
#include "kernels/cuda/laplace.h"

namespace abbe {

Tensor laplace_nll(const Tensor& mu, const Tensor& b, const Tensor& y) {
  const Device dev = common_device(Op::laplace_nll, {&mu, &b, &y});
  check_same_shape(mu, b, "laplace_nll: mu vs b");
  check_same_shape(mu, y, "laplace_nll: mu vs y");
  ABBE_CHECK(mu.dtype() == b.dtype() && mu.dtype() == y.dtype(), "laplace_nll: dtypes differ: mu ", mu.dtype(),
             ", b ", b.dtype(), ", y ", y.dtype());
  ABBE_CHECK(mu.numel() > 0, "laplace_nll: empty input ", describe(mu));
  const Tensor mc = mu.contiguous().detach(), bc = b.contiguous().detach(), yc = y.contiguous().detach();
  Tensor terms = Tensor::empty(mu.shape(), mu.dtype(), dev), loss;
  dispatch_float(mu.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ABBE_KERNEL(dev, laplace_nll_terms<T>, mc.numel(), mc.data<T>(), bc.data<T>(), yc.data<T>(), terms.data<T>());
  });
  {
    autograd::NoGradGuard no_grad;
    loss = mean(terms);
  }
  const bool gmu = mu.requires_grad(), gb = b.requires_grad(), gy = y.requires_grad();
  return autograd::record("laplace_nll", loss, {mu, b, y}, [=](const Tensor& g) {
    Tensor dmu, db, dy;
    const Device d = mc.device();
    if (gmu) dmu = Tensor::empty(mc.shape(), mc.dtype(), d);
    if (gb) db = Tensor::empty(mc.shape(), mc.dtype(), d);
    if (gy) dy = Tensor::empty(mc.shape(), mc.dtype(), d);
    const double scale = g.item() / static_cast<double>(mc.numel());
    dispatch_float(mc.dtype(), [&](auto tag) {
      using T = decltype(tag);
      auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : static_cast<T*>(nullptr); };
      ABBE_KERNEL(d, laplace_nll_backward<T>, mc.numel(), mc.data<T>(), bc.data<T>(), yc.data<T>(),
                  static_cast<T>(scale), ptr(dmu), ptr(db), ptr(dy));
    });
    return std::vector<Tensor>{dmu, db, dy};
  });
}

Tensor mc_statistics(const Tensor& mus, const Tensor& bs, double e, bool intensity_aware) {
  const Device dev = common_device(Op::laplace_nll, {&mus, &bs});
  ABBE_CHECK(mus.dim() >= 1 && mus.size(0) >= 1, "mc_statistics: mus must be (M, ...), got ", describe(mus));
  check_same_shape(mus, bs, "mc_statistics: mus vs bs");
  ABBE_CHECK(mus.dtype() == bs.dtype(), "mc_statistics: mus ", mus.dtype(), " vs bs ", bs.dtype());
  ABBE_CHECK(std::isfinite(e) && e > 0, "mc_statistics: e must be positive, got ", e);
  ABBE_CHECK(!autograd::needs_grad({&mus, &bs}),
             "mc_statistics: not differentiable (inference statistics); run it under NoGradGuard");
  const Tensor mc = mus.contiguous(), bc = bs.contiguous();
  Shape shape = mus.shape();
  shape[0] = 4;
  Tensor out = Tensor::empty(shape, mus.dtype(), dev);
  const int64_t M = mus.size(0), n = mus.numel() / M;
  dispatch_float(mus.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ABBE_KERNEL(dev, mc_statistics<T>, M, n, mc.data<T>(), bc.data<T>(), e, intensity_aware, out.data<T>());
  });
  return out;
}

}  // namespace abbe
