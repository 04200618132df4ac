// The gradcheck harness: every case of tests/op_cases.h (every op in graph/op_list.h has at least
// one) checked by a float64 finite-difference gradcheck of its tape gradients (and, through the
// golden tests, against PyTorch). The coverage test fails when an op is added without a case.
#include <algorithm>
#include <set>

#include "autograd/gradcheck.h"
#include "graph/op_list.h"
#include "tests/op_cases.h"
#include "tests/testing.h"

namespace abbe {
namespace {

using autograd::gradcheck;
using autograd::GradcheckOptions;
using testing::all_cases;
using testing::OpCase;

Tensor leaf(const Shape& s, uint64_t seed, double lo, double hi) {
  return testing::random_tensor(s, seed, lo, hi, DType::f64).set_requires_grad(true);
}

class OpGradcheck : public ::testing::TestWithParam<OpCase> {};

TEST_P(OpGradcheck, MatchesFiniteDifferences) {
  const OpCase& c = GetParam();
  const std::vector<Tensor> inputs = testing::make_inputs(c, DType::f64);
  const auto res = gradcheck(c.fn, inputs, GradcheckOptions{});
  EXPECT_TRUE(res.ok) << c.op << " (" << c.name << "): " << res.message;
}

std::string case_name(const ::testing::TestParamInfo<OpCase>& info) {
  return testing::case_label(info.param, info.index);
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpGradcheck, ::testing::ValuesIn(all_cases()), case_name);

TEST(OpHarness, EveryOpHasAGradcheckCase) {
  std::set<std::string> covered;
  for (const OpCase& c : all_cases()) covered.insert(c.op);
  for (std::string_view name : kOpNames)
    EXPECT_TRUE(covered.count(std::string(name))) << "op '" << name << "' has no gradcheck case";
  for (const std::string& c : covered)
    EXPECT_TRUE(std::find(kOpNames.begin(), kOpNames.end(), c) != kOpNames.end())
        << "case for unknown op '" << c << "'";
}

TEST(OpHarness, GradcheckCatchesAWrongGradient) {
  // A deliberately wrong backward (d/dx x^2 = x instead of 2x) must fail the check.
  auto wrong_square = [](const std::vector<Tensor>& v) {
    Tensor y = mul(v[0].detach(), v[0].detach());
    Tensor x = v[0];
    return autograd::record("wrong_square", y, {x}, [x](const Tensor& g) {
      return std::vector<Tensor>{mul(g, x.detach())};
    });
  };
  const auto res = gradcheck(wrong_square, {leaf({4}, 5, 0.5, 1)});
  EXPECT_FALSE(res.ok);
}

}  // namespace
}  // namespace abbe
