// Losses, composed from elementwise ops and a mean (fuse when a bench says so).
#include "autograd/ops.h"

namespace abbe {

Tensor l1_loss(const Tensor& pred, const Tensor& target) {
  check_same_shape(pred, target, "l1_loss: prediction vs target");
  return mean(abs(sub(pred, target)));
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  check_same_shape(pred, target, "mse_loss: prediction vs target");
  return mean(square(sub(pred, target)));
}

}  // namespace abbe
