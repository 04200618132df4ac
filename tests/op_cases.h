#pragma once
// The op cases: every op in graph/op_list.h with the shapes and options worth checking. One table
// serves two harnesses: tests/test_ops.cpp (float64 gradcheck on the CPU) and
// tests/test_devices.cpp (every case on every device against the CPU, forward and backward). Each
// has a coverage test that fails when an op of the list has no case.
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "autograd/ops.h"

namespace abbe::testing {

struct OpCase {
  std::string op;    // name in ABBE_OPS
  std::string name;  // what this case exercises
  std::vector<Shape> shapes;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
  double lo = -1, hi = 1;  // input range; lo == hi == 0: |x| in [0.05, 1] (away from kinks)
};

std::vector<OpCase> all_cases();

// The case's inputs as CPU leaves requiring grad, the same for every call with the same dtype:
// seeded uniform in [lo, hi], adjusted where an op has a kink (l1_loss targets shifted by 3,
// distinct values for max_pool2d) so finite differences and device comparisons are stable.
std::vector<Tensor> make_inputs(const OpCase& c, DType dtype);

// "conv2d_28" for gtest names.
std::string case_label(const OpCase& c, size_t index);

// How gtest prints a case in a failure: "conv2d (stride 2)".
void PrintTo(const OpCase& c, std::ostream* os);

}  // namespace abbe::testing
