// The SISR net against a PyTorch build of the same network (tests/golden/gen_sisr.py): weights
// loaded by name through safetensors, forward within 1e-4 relative in float32 (DESIGN.md), and
// the L1-loss gradient of every parameter, in float64 and float32.
#include "nets/sisr.h"
#include "tests/testing.h"

namespace abbe {
namespace {

struct GoldenConfig {
  std::string name;
  SisrConfig cfg;
};

const std::vector<GoldenConfig> kConfigs = {
    {"x2_plain", SisrConfig{2, 16, 2, 2, false, 0.5}},
    {"x3_bayes", SisrConfig{3, 8, 1, 3, true, 0.5}},
};

class SisrGolden : public ::testing::TestWithParam<std::tuple<GoldenConfig, DType>> {};

TEST_P(SisrGolden, ForwardAndGradientsMatchPyTorch) {
  const auto& [gc, dtype] = GetParam();
  const io::SafetensorsFile g = testing::load_golden("net_sisr");
  SISR net(gc.cfg);
  net.eval();  // dropout off
  std::map<std::string, Tensor> state;
  const std::string prefix = gc.name + ".param.";
  for (const auto& [key, t] : g.tensors)
    if (key.rfind(prefix, 0) == 0) state[key.substr(prefix.size())] = t;
  ASSERT_EQ(state.size(), net.state_dict().size()) << "parameter count differs from PyTorch's";
  net.load_state_dict(state);
  net.to(dtype);
  const double rtol = dtype == DType::f32 ? 1e-4 : 1e-9, atol = dtype == DType::f32 ? 1e-5 : 1e-12;
  Tensor x = testing::golden_tensor(g, gc.name + ".x").to(dtype);
  Tensor y_ref = testing::golden_tensor(g, gc.name + ".y");
  Tensor y = net.forward(x);
  EXPECT_ALL_CLOSE(y, y_ref, rtol, atol);
  Tensor target = testing::golden_tensor(g, gc.name + ".target").to(dtype);
  Tensor loss = l1_loss(narrow(y, 1, 0, 1), target);
  EXPECT_NEAR(loss.item(), testing::golden_tensor(g, gc.name + ".loss").item(), 10 * atol);
  net.zero_grad();
  loss.backward();
  // float32 gradients sum many products of both signs: compare with an absolute floor scaled to
  // the gradient's own magnitude.
  const double grad_rtol = dtype == DType::f32 ? 1e-3 : 1e-8, grad_atol = dtype == DType::f32 ? 1e-6 : 1e-12;
  for (auto& [n, p] : net.named_parameters()) {
    SCOPED_TRACE("gradient of " + n);
    ASSERT_TRUE(p.grad().defined());
    EXPECT_ALL_CLOSE(p.grad(), testing::golden_tensor(g, gc.name + ".grad." + n), grad_rtol, grad_atol);
  }
}

std::string config_name(const ::testing::TestParamInfo<std::tuple<GoldenConfig, DType>>& p) {
  return std::get<0>(p.param).name + (std::get<1>(p.param) == DType::f32 ? "_f32" : "_f64");
}

INSTANTIATE_TEST_SUITE_P(Configs, SisrGolden,
                         ::testing::Combine(::testing::ValuesIn(kConfigs),
                                            ::testing::Values(DType::f32, DType::f64)),
                         config_name);

TEST(SisrNet, ParameterCountFormula) {
  // feat_extract (1->c + n_e blocks) + reconstruction (c->c + n_r blocks) + upsampler + conv_hr + conv_last
  for (const auto& gc : kConfigs) {
    const SisrConfig& c = gc.cfg;
    const int64_t ch = c.channels, f = c.scale, conv = ch * ch * 9 + ch;
    const int64_t expect = (ch * 9 + ch) + c.n_extract * 2 * conv + conv + c.n_recon * 2 * conv +
                           (ch * ch * f * f * 9 + ch * f * f) + conv + (ch * 9 + 1) * (c.bayesian ? 2 : 1);
    SISR net(c);
    EXPECT_EQ(net.parameter_count(), expect) << gc.name;
  }
}

}  // namespace
}  // namespace abbe
