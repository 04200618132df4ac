#pragma once
// Views that share storage and record no gradient (abbe::raw). The differentiable versions that
// users call are in autograd/ops.h and are built on these.
#include "graph/tensor.h"

namespace abbe::raw {

int wrap_dim(int d, int ndim);                              // -1 -> ndim-1, with a range check
Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int dim, int64_t index);     // drops `dim`
Tensor reshape(const Tensor& x, const Shape& shape);        // view if contiguous, else a copy; one -1 allowed
Tensor permute(const Tensor& x, const std::vector<int>& dims);
Tensor unsqueeze(const Tensor& x, int dim);
Tensor expand(const Tensor& x, const Shape& shape);         // broadcast view (stride 0)

}  // namespace abbe::raw
