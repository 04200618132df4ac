// Tensor, views, allocator, RNG and the autograd engine.
#include <omp.h>

#include "graph/allocator.h"
#include "graph/views.h"
#include "layers/resblock.h"
#include "tests/testing.h"

namespace abbe {
namespace {

TEST(Tensor, FactoriesAndMetadata) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.size(-1), 4);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
  EXPECT_THROW(Tensor::empty({1, 2, 3, 4, 5, 6}), Error);
  EXPECT_THROW(t.data<double>(), Error);
}

TEST(Tensor, ViewsShareStorage) {
  Tensor t = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor col = raw::select(t, 1, 2);
  EXPECT_EQ(col.to_vector<float>(), (std::vector<float>{2, 5}));
  Tensor tr = raw::permute(t, {1, 0});
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(tr.contiguous().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  raw::narrow(t, 1, 1, 1).fill_(9);  // a strided view: writes through to t
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{0, 9, 2, 3, 9, 5}));
}

TEST(Tensor, ReshapeInfersAndChecks) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(raw::reshape(t, {-1, 4}).shape(), (Shape{6, 4}));
  EXPECT_THROW(raw::reshape(t, {5, -1}), Error);
  EXPECT_THROW(raw::reshape(t, {-1, -1}), Error);
}

TEST(Allocator, ReusesFreedBlocks) {
  Allocator& a = allocator_for(Device::cpu());
  a.empty_cache();
  { Tensor t = Tensor::empty({1000}); }
  const auto before = a.stats();
  { Tensor t = Tensor::empty({900}); }  // same 4 KiB size class
  EXPECT_EQ(a.stats().cache_hits, before.cache_hits + 1);
  EXPECT_EQ(cpu_size_class(1), 64u);
  EXPECT_EQ(cpu_size_class(4000), 4096u);
}

TEST(Rng, ReproducibleAndIndependentOfThreads) {
  Generator g1(42), g2(42);
  Tensor a = Tensor::rand({10000}, g1), b = Tensor::rand({10000}, g2);
  EXPECT_EQ(a.to_vector<float>(), b.to_vector<float>());
  Tensor c = Tensor::rand({10000}, g1);
  EXPECT_NE(a.to_vector<float>(), c.to_vector<float>());
  // The same seed on 1 and 2 threads (rand and dropout run OpenMP loops above 64k elements).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  Generator g3(42), g4(42);
  const auto one = Tensor::rand({300000}, g3).to_vector<float>();
  const auto drop1 = dropout(Tensor::ones({300000}), 0.5, true, g3).to_vector<float>();
  omp_set_num_threads(2);
  EXPECT_EQ(one, Tensor::rand({300000}, g4).to_vector<float>());
  EXPECT_EQ(drop1, dropout(Tensor::ones({300000}), 0.5, true, g4).to_vector<float>());
  omp_set_num_threads(threads);
  // Mean and variance of U(0,1) and N(0,1) draws.
  Generator g(7);
  const auto u = Tensor::rand({200000}, g).to_vector<float>();
  double m = 0;
  for (float v : u) m += v;
  EXPECT_NEAR(m / u.size(), 0.5, 0.005);
  const auto n = Tensor::randn({200000}, g, 0, 1, DType::f64).to_vector<double>();
  double s = 0, s2 = 0;
  for (double v : n) s += v, s2 += v * v;
  EXPECT_NEAR(s / n.size(), 0, 0.01);
  EXPECT_NEAR(s2 / n.size(), 1, 0.02);
}

TEST(Autograd, ChainAndAccumulation) {
  Tensor x = Tensor::from_vector(std::vector<double>{1, 2, 3}, {3}).set_requires_grad(true);
  // y = sum(x*x + 3x) -> dy/dx = 2x + 3; x used twice, so gradients must add.
  Tensor y = sum(add(mul(x, x), mul_scalar(x, 3)));
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{5, 7, 9}));
  // A second backward accumulates into .grad.
  sum(x).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{6, 8, 10}));
}

TEST(Autograd, NoGradGuardRecordsNothing) {
  Tensor x = Tensor::ones({2}).set_requires_grad(true);
  Tensor y;
  {
    autograd::NoGradGuard ng;
    y = mul(x, x);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(sum(y).backward(), Error);
}

TEST(Autograd, DiamondGraphRunsEachNodeOnce) {
  Tensor x = Tensor::from_vector(std::vector<double>{2}, {1}).set_requires_grad(true);
  Tensor h = exp(x);
  Tensor y = add(mul(h, h), h);  // y = e^2x + e^x -> 2e^2x + e^x
  y.backward(Tensor::ones({1}, DType::f64));
  EXPECT_NEAR(x.grad().item(), 2 * std::exp(4.0) + std::exp(2.0), 1e-9);
}

TEST(Autograd, GraphIsFreedWithTheOutput) {
  Allocator& a = allocator_for(Device::cpu());
  Tensor x = Tensor::ones({256, 256}).set_requires_grad(true);
  const size_t before = a.stats().in_use;
  {
    Tensor y = sigmoid(tanh(exp(x)));  // saved outputs must not form cycles
    sum(y).backward();
  }
  x.set_grad(Tensor());
  EXPECT_EQ(a.stats().in_use, before);
}

TEST(Module, StateDictNamesFollowPyTorch) {
  ResBlocksWithInputConv m(1, 8, 2);
  std::vector<std::string> names;
  for (auto& [n, t] : m.state_dict()) names.push_back(n);
  const std::vector<std::string> expect = {
      "main.0.weight", "main.0.bias",
      "main.2.0.conv1.weight", "main.2.0.conv1.bias", "main.2.0.conv2.weight", "main.2.0.conv2.bias",
      "main.2.1.conv1.weight", "main.2.1.conv1.bias", "main.2.1.conv2.weight", "main.2.1.conv2.bias"};
  EXPECT_EQ(names, expect);
  EXPECT_EQ(m.parameter_count(), (8 * 9 + 8) + 2 * 2 * (8 * 8 * 9 + 8));
}

TEST(Module, LoadStateDictChecksNamesAndShapes) {
  ResBlocksWithInputConv a(1, 4, 1), b(1, 4, 1);
  std::map<std::string, Tensor> sd;
  for (auto& [n, t] : a.state_dict()) sd[n] = t;
  b.load_state_dict(sd);
  EXPECT_EQ(b.state_dict()[0].second.to_vector<float>(), a.state_dict()[0].second.to_vector<float>());
  sd["main.0.weight"] = Tensor::zeros({4, 2, 3, 3});
  try {
    b.load_state_dict(sd);
    FAIL() << "expected a shape error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("main.0.weight"), std::string::npos) << e.what();
  }
  sd.erase("main.0.weight");
  EXPECT_THROW(b.load_state_dict(sd), Error);
  b.load_state_dict(sd, /*strict=*/false);
}

TEST(Dropout, MaskRateScaleAndSwitch) {
  Tensor x = Tensor::ones({100000});
  Generator gen(3);
  const auto y = dropout(x, 0.5, true, gen).to_vector<float>();
  int64_t kept = 0;
  for (float v : y) {
    ASSERT_TRUE(v == 0.f || v == 2.f);
    kept += v != 0;
  }
  EXPECT_NEAR(static_cast<double>(kept) / y.size(), 0.5, 0.01);
  EXPECT_TRUE(dropout(x, 0.5, false, gen).same(x));  // off: identity, no copy
}

}  // namespace
}  // namespace abbe
