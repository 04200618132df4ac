#include "layers/init.h"

#include <cmath>

namespace abbe::init {

int64_t fan_in(const Tensor& w) {
  ABBE_CHECK(w.dim() >= 2, "fan_in of a ", w.dim(), "-D tensor");
  return w.numel() / w.size(0);
}

void uniform_(Tensor& t, double bound, Generator& gen) {
  t.copy_(Tensor::rand(t.shape(), gen, -bound, bound, t.dtype()));
}

void normal_(Tensor& t, double stddev, Generator& gen) {
  t.copy_(Tensor::randn(t.shape(), gen, 0.0, stddev, t.dtype()));
}

void kaiming_normal_(Tensor& w, double scale, Generator& gen) {
  normal_(w, std::sqrt(2.0 / static_cast<double>(fan_in(w))) * scale, gen);
}

void conv_default_(Tensor& w, Tensor& b, Generator& gen) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in(w)));
  uniform_(w, bound, gen);
  if (b.defined()) uniform_(b, bound, gen);
}

}  // namespace abbe::init
