#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/ops.h"
#include "graph/rng.h"

namespace abbe::autograd {

GradcheckResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opts) {
  for (const Tensor& t : inputs)
    ABBE_CHECK(!t.defined() || (t.dtype() == DType::f64 && t.is_contiguous() && t.is_leaf()),
               "gradcheck: inputs must be contiguous float64 leaves, got ", describe(t));
  // The projection r makes the check one scalar function, so one backward gives every gradient.
  Tensor r;
  {
    NoGradGuard ng;
    Tensor y = f(inputs);
    Generator gen(1234);
    r = Tensor::rand(y.shape(), gen, -1, 1, DType::f64);
  }
  auto objective = [&]() {
    NoGradGuard ng;
    return sum(mul(f(inputs), r)).item();
  };
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) t.set_grad(Tensor());
  sum(mul(f(inputs), r)).backward();

  GradcheckResult res;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor ga = x.grad();
    std::vector<double> analytic = ga.defined() ? ga.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    double* p = x.data<double>();
    for (int64_t j = 0; j < x.numel(); ++j) {
      const double orig = p[j];
      p[j] = orig + opts.eps;
      const double fp = objective();
      p[j] = orig - opts.eps;
      const double fm = objective();
      p[j] = orig;
      const double numeric = (fp - fm) / (2 * opts.eps);
      const double err = std::abs(analytic[j] - numeric);
      res.max_abs_error = std::max(res.max_abs_error, err);
      if (res.ok && !(err <= opts.atol + opts.rtol * std::abs(numeric))) {
        res.ok = false;
        std::ostringstream os;
        os << "input " << i << " " << x.shape() << " element " << j << ": analytic " << analytic[j]
           << " vs numeric " << numeric << " (|diff| " << err << " > atol " << opts.atol
           << " + rtol " << opts.rtol << " * |numeric|)";
        res.message = os.str();
      }
    }
  }
  return res;
}

}  // namespace abbe::autograd
