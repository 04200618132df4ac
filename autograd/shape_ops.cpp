// Views and joins. Views share storage with their input; their backward scatters the gradient
// into zeros of the input's shape (narrow, select) or undoes the view (reshape, permute).
#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "graph/views.h"

namespace abbe {

Tensor narrow(const Tensor& x, int dim, int64_t start, int64_t length) {
  Tensor y = raw::narrow(x, dim, start, length);
  const Shape in = x.shape();
  const DType dt = x.dtype();
  return autograd::record("narrow", y, {x}, [in, dt, dim, start, length](const Tensor& g) {
    Tensor dx = Tensor::zeros(in, dt, g.device());
    raw::narrow(dx, dim, start, length).copy_(g);
    return std::vector<Tensor>{dx};
  });
}

Tensor select(const Tensor& x, int dim, int64_t index) {
  Tensor y = raw::select(x, dim, index);
  const Shape in = x.shape();
  const DType dt = x.dtype();
  return autograd::record("select", y, {x}, [in, dt, dim, index](const Tensor& g) {
    Tensor dx = Tensor::zeros(in, dt, g.device());
    raw::select(dx, dim, index).copy_(g);
    return std::vector<Tensor>{dx};
  });
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = raw::reshape(x, shape);
  const Shape in = x.shape();
  return autograd::record("reshape", y, {x}, [in](const Tensor& g) {
    return std::vector<Tensor>{raw::reshape(g, in)};
  });
}

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  Tensor y = raw::permute(x, dims);
  std::vector<int> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[raw::wrap_dim(dims[i], x.dim())] = static_cast<int>(i);
  return autograd::record("permute", y, {x}, [inverse](const Tensor& g) {
    return std::vector<Tensor>{raw::permute(g, inverse).contiguous()};
  });
}

Tensor unsqueeze(const Tensor& x, int dim) {
  Shape s = x.shape();
  s.insert(s.begin() + raw::wrap_dim(dim, x.dim() + 1), 1);
  return reshape(x, s);
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor y = x.clone();
  return autograd::record("contiguous", y, {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

Tensor concat(const std::vector<Tensor>& xs, int dim) {
  ABBE_CHECK(!xs.empty(), "concat: no tensors given");
  const Tensor& first = xs[0];
  dim = raw::wrap_dim(dim, first.dim());
  Shape out = first.shape();
  out[dim] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& t = xs[i];
    ABBE_CHECK(t.dim() == first.dim() && t.dtype() == first.dtype(), "concat: tensor ", i, " (",
               describe(t), ") does not match tensor 0 (", describe(first), ")");
    for (int d = 0; d < t.dim(); ++d)
      ABBE_CHECK(d == dim || t.size(d) == first.size(d), "concat along dim ", dim, ": tensor ", i,
                 " has shape ", t.shape(), ", tensor 0 has ", first.shape());
    common_device(Op::concat, {&first, &t});
    out[dim] += t.size(dim);
  }
  Tensor y = Tensor::empty(out, first.dtype(), first.device());
  std::vector<int64_t> sizes;
  int64_t at = 0;
  for (const Tensor& t : xs) {
    raw::narrow(y, dim, at, t.size(dim)).copy_(t);
    at += t.size(dim);
    sizes.push_back(t.size(dim));
  }
  return autograd::record("concat", y, xs, [sizes, dim](const Tensor& g) {
    std::vector<Tensor> grads;
    int64_t start = 0;
    for (int64_t s : sizes) {
      grads.push_back(raw::narrow(g, dim, start, s));
      start += s;
    }
    return grads;
  });
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim) {
  int64_t total = 0;
  for (int64_t s : sizes) total += s;
  ABBE_CHECK(total == x.size(dim), "split: sizes add up to ", total, " but dim ", dim, " of ",
             x.shape(), " has ", x.size(dim));
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(x, dim, start, s));
    start += s;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& xs, int dim) {
  ABBE_CHECK(!xs.empty(), "stack: no tensors given");
  std::vector<Tensor> us;
  for (const Tensor& t : xs) us.push_back(unsqueeze(t, dim));
  return concat(us, dim);
}

}  // namespace abbe
