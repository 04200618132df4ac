#include "graph/views.h"

namespace abbe::raw {

int wrap_dim(int d, int ndim) {
  const int w = d < 0 ? d + ndim : d;
  ABBE_CHECK(w >= 0 && w < ndim, "dim ", d, " out of range for a ", ndim, "-D tensor");
  return w;
}

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  dim = wrap_dim(dim, x.dim());
  ABBE_CHECK(start >= 0 && length >= 0 && start + length <= x.size(dim), "narrow: [", start, ", ",
             start + length, ") out of range for dim ", dim, " of shape ", x.shape());
  Shape shape = x.shape();
  shape[dim] = length;
  return Tensor::make_view(x.storage(), shape, x.strides(), x.offset() + start * x.strides()[dim],
                           x.dtype());
}

Tensor select(const Tensor& x, int dim, int64_t index) {
  dim = wrap_dim(dim, x.dim());
  if (index < 0) index += x.size(dim);
  ABBE_CHECK(index >= 0 && index < x.size(dim), "select: index ", index, " out of range for dim ",
             dim, " of shape ", x.shape());
  Shape shape = x.shape(), strides = x.strides();
  const int64_t off = x.offset() + index * strides[dim];
  shape.erase(shape.begin() + dim);
  strides.erase(strides.begin() + dim);
  return Tensor::make_view(x.storage(), shape, strides, off, x.dtype());
}

Tensor reshape(const Tensor& x, const Shape& requested) {
  Shape shape = requested;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < shape.dim(); ++i) {
    if (shape[i] == -1) {
      ABBE_CHECK(infer < 0, "reshape: more than one -1 in ", requested);
      infer = i;
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    ABBE_CHECK(known > 0 && x.numel() % known == 0, "reshape: cannot infer -1 in ", requested,
               " for ", x.numel(), " elements");
    shape[infer] = x.numel() / known;
  }
  ABBE_CHECK(shape.numel() == x.numel(), "reshape: shape ", requested, " does not fit ", x.numel(),
             " elements of ", x.shape());
  Tensor c = x.contiguous();
  return Tensor::make_view(c.storage(), shape, contiguous_strides(shape), c.offset(), c.dtype());
}

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  ABBE_CHECK(static_cast<int>(dims.size()) == x.dim(), "permute: ", dims.size(),
             " dims given for shape ", x.shape());
  Shape shape(x.dim()), strides(x.dim());
  std::vector<bool> seen(x.dim(), false);
  for (int i = 0; i < x.dim(); ++i) {
    const int d = wrap_dim(dims[i], x.dim());
    ABBE_CHECK(!seen[d], "permute: dim ", d, " repeated");
    seen[d] = true;
    shape[i] = x.shape()[d];
    strides[i] = x.strides()[d];
  }
  return Tensor::make_view(x.storage(), shape, strides, x.offset(), x.dtype());
}

Tensor unsqueeze(const Tensor& x, int dim) {
  dim = wrap_dim(dim, x.dim() + 1);
  Shape shape = x.shape(), strides = x.strides();
  const int64_t st = dim < x.dim() ? shape[dim] * strides[dim] : 1;
  shape.insert(shape.begin() + dim, 1);
  strides.insert(strides.begin() + dim, st);
  return Tensor::make_view(x.storage(), shape, strides, x.offset(), x.dtype());
}

Tensor expand(const Tensor& x, const Shape& shape) {
  ABBE_CHECK(shape.dim() >= x.dim(), "expand: cannot expand ", x.shape(), " to ", shape);
  const int lead = shape.dim() - x.dim();
  Shape strides(shape.dim(), 0);
  for (int i = 0; i < x.dim(); ++i) {
    const int64_t s = x.shape()[i];
    ABBE_CHECK(s == shape[lead + i] || s == 1, "expand: cannot expand ", x.shape(), " to ", shape);
    strides[lead + i] = s == 1 && shape[lead + i] != 1 ? 0 : x.strides()[i];
  }
  return Tensor::make_view(x.storage(), shape, strides, x.offset(), x.dtype());
}

}  // namespace abbe::raw
