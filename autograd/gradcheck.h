#pragma once
// Float64 finite-difference gradient check: compares the tape's gradient of sum(f(x) * r), for a
// fixed random r, with central differences, element by element, for every input that requires
// grad. f must be deterministic (reset any generator inside it).
#include <functional>
#include <string>
#include <vector>

#include "graph/tensor.h"

namespace abbe::autograd {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-6;
  double rtol = 1e-4;
};

struct GradcheckResult {
  bool ok = true;
  double max_abs_error = 0;  // over all checked elements
  std::string message;       // the first failure: input, element, analytic vs numeric
};

using TensorFn = std::function<Tensor(const std::vector<Tensor>&)>;

GradcheckResult gradcheck(const TensorFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opts = {});

}  // namespace abbe::autograd
