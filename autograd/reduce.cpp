// Sum and mean over dims; sum_to undoes broadcasting. Backward of a sum is a broadcast (expand).
#include <algorithm>

#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "graph/views.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cuda/reduce.h"

namespace abbe {

namespace {

// Sums x (any layout) to keepdim shape `out` (same ndim, 1 where summed).
Tensor reduce_keepdim(const Tensor& x, const Shape& out) {
  Tensor xc = x.contiguous();
  Tensor y = Tensor::empty(out, x.dtype(), x.device());
  if (x.numel() == 0) return y.zero_();
  dispatch_float(x.dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    if constexpr (kCudaBackend) {
      if (x.device().is_cuda()) {  // multi-block reductions combine partial sums in a workspace
        Storage workspace(kernels::cuda::sum_reduce_workspace_bytes(x.dim(), xc.shape().data(), out.data()),
                          x.device());
        return kernels::cuda::sum_reduce<scalar_t>(x.dim(), xc.shape().data(), out.data(), xc.data<scalar_t>(),
                                                   y.data<scalar_t>(), workspace.data(), cuda_stream());
      }
    }
    kernels::cpu::sum_reduce<scalar_t>(x.dim(), xc.shape().data(), out.data(),
                                       xc.data<scalar_t>(), y.data<scalar_t>());
  });
  return y;
}

// Gradient of a reduction: g (keepdim shape) broadcast back to `in`.
Tensor expand_back(const Tensor& g, const Shape& keep_shape, const Shape& in) {
  return raw::expand(raw::reshape(g, keep_shape), in).contiguous();
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int>& dims_in, bool keepdim) {
  common_device(Op::sum, {&x});
  Shape keep = x.shape();
  std::vector<bool> reduced(x.dim(), false);
  for (int d : dims_in) reduced[raw::wrap_dim(d, x.dim())] = true;
  Shape out;
  for (int d = 0; d < x.dim(); ++d) {
    if (reduced[d]) keep[d] = 1;
    if (!reduced[d] || keepdim) out.push_back(keep[d]);
  }
  Tensor y = raw::reshape(reduce_keepdim(x, keep), out);
  const Shape in = x.shape();
  return autograd::record("sum", y, {x}, [keep, in](const Tensor& g) {
    return std::vector<Tensor>{expand_back(g, keep, in)};
  });
}

Tensor sum(const Tensor& x) {
  std::vector<int> all(x.dim());
  for (int d = 0; d < x.dim(); ++d) all[d] = d;
  return sum(x, all, false);
}

Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  int64_t count = 1;
  std::vector<bool> seen(x.dim(), false);
  for (int d : dims) {
    const int w = raw::wrap_dim(d, x.dim());
    if (!seen[w]) count *= x.size(w), seen[w] = true;
  }
  ABBE_CHECK(count > 0, "mean over an empty dimension of ", x.shape());
  return mul_scalar(sum(x, dims, keepdim), 1.0 / static_cast<double>(count));
}

Tensor mean(const Tensor& x) {
  ABBE_CHECK(x.numel() > 0, "mean of an empty tensor ", x.shape());
  return mul_scalar(sum(x), 1.0 / static_cast<double>(x.numel()));
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const int lead = x.dim() - shape.dim();
  ABBE_CHECK(lead >= 0, "sum_to: cannot reduce ", x.shape(), " to ", shape);
  std::vector<int> dims;
  for (int d = 0; d < x.dim(); ++d) {
    const bool is_lead = d < lead;
    if (is_lead || (shape[d - lead] == 1 && x.size(d) != 1)) dims.push_back(d);
    else ABBE_CHECK(shape[d - lead] == x.size(d), "sum_to: cannot reduce ", x.shape(), " to ", shape);
  }
  return reshape(sum(x, dims, true), shape);
}

}  // namespace abbe
