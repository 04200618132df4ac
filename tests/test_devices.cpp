// The device consistency harness: every case of tests/op_cases.h, in float32 and float64, on every
// device under test against the CPU on the same seeded inputs — the forward output and the
// gradient of every input for the same seeded upstream gradient. The coverage test fails when an
// op of graph/op_list.h has no case.
//
// Devices under test: in the emulation build, the CUDA kernels on the CPU emulator; in the real
// CUDA build, the GPU (the tests skip, saying why, when the machine has none). ctest runs this
// binary as `test_devices` (label unit, emulation build) and `test_devices_gpu` (label gpu).
#include <cstdio>
#include <set>

#include "graph/dispatch.h"
#include "graph/op_list.h"
#include "tests/op_cases.h"
#include "tests/testing.h"
#if ABBE_WITH_CUDA
#include "kernels/cuda/device.h"
#endif

namespace abbe {
namespace {

using testing::OpCase;

// The tolerances, per element: |device - cpu| <= atol + rtol * |cpu|. The CUDA kernels use the
// CPU's formulas, but reductions, cuDNN and cuBLAS may add in another order; float32 allows for
// that, float64 is tight enough to catch any wrong index or formula.
struct Tolerance {
  double rtol, atol;
};
constexpr Tolerance kTolerance[] = {{1e-4, 1e-5} /* f32 */, {1e-10, 1e-12} /* f64 */};
Tolerance tolerance(DType t) { return kTolerance[t == DType::f32 ? 0 : 1]; }

// Devices compared against the CPU in this build, or why there are none.
std::vector<Device> devices_under_test(std::string* why_none) {
#if ABBE_WITH_CUDA
  const cuda::DeviceStatus& s = cuda::device_status();
  if (s.usable) return {Device::cuda()};
  *why_none = "no usable CUDA device: " + s.detail;
#else
  *why_none = "this build has no CUDA backend";
#endif
  return {};
}

// Forward and backward of one case on one device: the output and the input gradients, on the CPU.
struct CaseResult {
  Tensor y;
  std::vector<Tensor> grads;
};

CaseResult run_case(const OpCase& c, DType dtype, Device device) {
  std::vector<Tensor> inputs;
  for (const Tensor& t : testing::make_inputs(c, dtype)) inputs.push_back(t.detach().to(device).set_requires_grad(true));
  Tensor y = c.fn(inputs);
  EXPECT_EQ(y.device(), device) << "the output left the device";
  const Tensor g = testing::random_tensor(y.shape(), 4242, -1, 1, dtype).to(device);
  y.backward(g);
  CaseResult r{y.detach().to(Device::cpu()), {}};
  for (const Tensor& t : inputs) r.grads.push_back(t.grad().defined() ? t.grad().to(Device::cpu()) : Tensor());
  return r;
}

struct DeviceCase {
  OpCase op;
  size_t index;
  DType dtype;
};

void PrintTo(const DeviceCase& c, std::ostream* os) {
  testing::PrintTo(c.op, os);
  *os << (c.dtype == DType::f32 ? " float32" : " float64");
}

class OpConsistency : public ::testing::TestWithParam<DeviceCase> {};

TEST_P(OpConsistency, MatchesCpu) {
  const DeviceCase& p = GetParam();
  std::string why;
  const std::vector<Device> devices = devices_under_test(&why);
  if (devices.empty()) GTEST_SKIP() << why;
  const Tolerance tol = tolerance(p.dtype);
  const CaseResult ref = run_case(p.op, p.dtype, Device::cpu());
  for (Device d : devices) {
    SCOPED_TRACE(testing::case_label(p.op, p.index) + " (" + p.op.name + ") on " + d.str());
    const CaseResult got = run_case(p.op, p.dtype, d);
    EXPECT_ALL_CLOSE(got.y, ref.y, tol.rtol, tol.atol);
    ASSERT_EQ(got.grads.size(), ref.grads.size());
    for (size_t i = 0; i < ref.grads.size(); ++i) {
      SCOPED_TRACE("gradient of input " + std::to_string(i));
      ASSERT_EQ(got.grads[i].defined(), ref.grads[i].defined());
      if (ref.grads[i].defined()) {
        EXPECT_ALL_CLOSE(got.grads[i], ref.grads[i], tol.rtol, tol.atol);
      }
    }
  }
}

std::vector<DeviceCase> device_cases() {
  std::vector<DeviceCase> out;
  const std::vector<OpCase> cases = testing::all_cases();
  for (DType dt : {DType::f32, DType::f64})
    for (size_t i = 0; i < cases.size(); ++i) out.push_back({cases[i], i, dt});
  return out;
}

std::string device_case_name(const ::testing::TestParamInfo<DeviceCase>& info) {
  return testing::case_label(info.param.op, info.param.index) +
         (info.param.dtype == DType::f32 ? "_f32" : "_f64");
}

INSTANTIATE_TEST_SUITE_P(AllOps, OpConsistency, ::testing::ValuesIn(device_cases()), device_case_name);

TEST(DeviceHarness, EveryOpHasACaseOnEveryDevice) {
  std::set<std::string> covered;
  for (const OpCase& c : testing::all_cases()) covered.insert(c.op);
  for (size_t i = 0; i < kOpNames.size(); ++i) {
    const std::string name(kOpNames[i]);
    EXPECT_TRUE(covered.count(name)) << "op '" << name << "' has no case in tests/op_cases.cpp";
    if (kCudaBackend) {
      EXPECT_TRUE(supports(static_cast<Op>(i), Device::cuda())) << "op '" << name << "' has no CUDA kernel";
    }
  }
}

TEST(DeviceHarness, Float64ToleranceIsTight) {
  // The float64 tolerance must see a relative error of 1e-8, far below anything float32 shows.
  const Tensor a = Tensor::from_vector(std::vector<double>{1.0, 2.0, 3.0}, {3});
  const Tensor b = Tensor::from_vector(std::vector<double>{1.0, 2.0 * (1 + 1e-8), 3.0}, {3});
  const Tolerance t = tolerance(DType::f64);
  EXPECT_FALSE(testing::all_close(b, a, t.rtol, t.atol));
}

// The gpu-labelled entry: whether a real GPU is here to run the suite above on.
TEST(Gpu, RealDevicePresent) {
#if ABBE_WITH_CUDA
  const cuda::DeviceStatus& s = cuda::device_status();
  if (s.emulated)
    GTEST_SKIP() << "emulation build: its CUDA device is the CPU emulator. On a GPU machine build with "
                    "-DABBE_CUDA=ON -DABBE_CUDA_EMULATION=OFF and run ctest -L gpu";
  if (!s.usable) GTEST_SKIP() << "no usable CUDA device: " << s.detail;
  std::printf("running on %s\n", s.name.c_str());
#else
  GTEST_SKIP() << "this build has no CUDA backend";
#endif
}

}  // namespace
}  // namespace abbe
