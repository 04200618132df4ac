#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/dropout.h"
#include "kernels/cuda/dropout.h"

namespace abbe {

Tensor dropout(const Tensor& x, double p, bool active, Generator& gen) {
  ABBE_CHECK(p >= 0 && p < 1, "dropout: p must be in [0, 1), got ", p);
  if (!active || p == 0) return x;
  common_device(Op::dropout, {&x});
  const uint64_t seed = gen.seed(), base = gen.take(static_cast<uint64_t>(x.numel()));
  auto apply = [p, seed, base](const Tensor& in) {
    Tensor c = in.contiguous();
    Tensor out = Tensor::empty(c.shape(), c.dtype(), c.device());
    dispatch_float(c.dtype(), [&](auto tag) {
      using scalar_t = decltype(tag);
      ABBE_KERNEL(c.device(), dropout_apply<scalar_t>, c.numel(), p, seed, base, c.data<scalar_t>(),
                  out.data<scalar_t>());
    });
    return out;
  };
  return autograd::record("dropout", apply(x), {x},
                          [apply](const Tensor& g) { return std::vector<Tensor>{apply(g)}; });
}

}  // namespace abbe
