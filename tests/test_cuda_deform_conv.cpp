// kernels/cuda/deform_conv.cu under the CUDA emulator, against the CPU kernels
// (kernels/cpu/deform_conv.h, themselves tested against torchvision) on the same seeded inputs,
// float and double: forward, all five gradients, subsets of the gradients, and an image large
// enough to take several chunks of the column buffer. Small shapes: every GPU thread is a fiber.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/cpu/deform_conv.h"
#include "kernels/cuda/deform_conv.h"
#include "tests/cuda_testing.h"

namespace {

namespace cpu = abbe::kernels::cpu;
namespace gpu = abbe::kernels::cuda;
using abbe::kernels::cpu::DeformConv2dShape;
using abbe::testing::cuda::DeviceBuffer;
using abbe::testing::cuda::expect_close;
using abbe::testing::cuda::random_vec;

// Relative to max(1, |expected|) (see expect_close). The GPU sums in other orders (gemm, atomics).
template <typename T>
constexpr double kTol = sizeof(T) == 4 ? 1e-4 : 1e-11;

struct Case {
  DeformConv2dShape s;
  bool mask, bias;
};

DeformConv2dShape shape(int64_t N, int64_t C, int64_t H, int64_t W, int64_t K, int64_t R, int64_t S, int64_t sh,
                        int64_t sw, int64_t ph, int64_t pw, int64_t dh, int64_t dw, int64_t groups, int64_t G) {
  return {N, C, H, W, K, R, S, sh, sw, ph, pw, dh, dw, groups, G};
}

const Case kCases[] = {
    {shape(2, 4, 5, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2), true, true},
    {shape(1, 8, 7, 5, 6, 3, 3, 2, 2, 1, 1, 1, 1, 2, 4), false, true},  // stride 2, groups 2, no mask
    {shape(1, 6, 6, 7, 4, 3, 2, 1, 2, 2, 0, 2, 1, 2, 3), true, false},  // anisotropic, dilation 2
    {shape(1, 16, 6, 6, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2), true, true},  // 8 channels an offset group
    {shape(1, 2, 66, 65, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1), true, true},  // 4290 pixels: two chunks
};

std::string describe(const DeformConv2dShape& s, const char* type) {
  std::ostringstream os;
  os << "N" << s.N << " C" << s.C << " " << s.H << "x" << s.W << " K" << s.K << " " << s.R << "x" << s.S
     << " groups " << s.groups << " G " << s.offset_groups << type;
  return os.str();
}

template <typename T>
struct Data {
  std::vector<T> x, offset, mask, w, bias, dy;
};

// Offsets in [-2.5, 2.5): a third integers (samples on pixels and on the -1 and H borders).
template <typename T>
Data<T> make_data(const DeformConv2dShape& s, unsigned seed) {
  const int64_t PQ = s.P() * s.Q(), GRS = s.offset_groups * s.R * s.S;
  Data<T> d;
  d.x = random_vec<T>(s.N * s.C * s.H * s.W, seed, -1, 1);
  d.offset = random_vec<T>(s.N * 2 * GRS * PQ, seed + 1, -2.5, 2.5);
  for (size_t i = 0; i < d.offset.size(); i += 3) d.offset[i] = std::round(d.offset[i]);
  d.mask = random_vec<T>(s.N * GRS * PQ, seed + 2, 0, 1);
  d.w = random_vec<T>(s.K * s.C / s.groups * s.R * s.S, seed + 3, -1, 1);
  d.bias = random_vec<T>(s.K, seed + 4, -1, 1);
  d.dy = random_vec<T>(s.N * s.K * PQ, seed + 5, -1, 1);
  return d;
}

template <typename T>
class CudaDeformConv : public ::testing::Test {};
using Types = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaDeformConv, Types);

TYPED_TEST(CudaDeformConv, MatchesCpu) {
  using T = TypeParam;
  unsigned seed = 1;
  for (const Case& c : kCases) {
    const DeformConv2dShape& s = c.s;
    const std::string what = describe(s, sizeof(T) == 4 ? " float" : " double");
    const Data<T> d = make_data<T>(s, seed += 10);
    const T* mask = c.mask ? d.mask.data() : nullptr;
    const T* bias = c.bias ? d.bias.data() : nullptr;
    std::vector<T> y(d.dy.size()), dx(d.x.size()), doffset(d.offset.size()), dmask(d.mask.size()),
        dw(d.w.size()), db(d.bias.size());
    cpu::deform_conv2d_forward(s, d.x.data(), d.offset.data(), mask, d.w.data(), bias, y.data());
    cpu::deform_conv2d_backward(s, d.x.data(), d.offset.data(), mask, d.w.data(), d.dy.data(), dx.data(),
                                doffset.data(), dmask.data(), dw.data(), db.data());

    DeviceBuffer<T> x_d(d.x), offset_d(d.offset), mask_d(d.mask), w_d(d.w), bias_d(d.bias), dy_d(d.dy);
    DeviceBuffer<T> y_d(static_cast<int64_t>(y.size())), dx_d(static_cast<int64_t>(dx.size())),
        doffset_d(static_cast<int64_t>(doffset.size())), dmask_d(static_cast<int64_t>(dmask.size())),
        dw_d(static_cast<int64_t>(dw.size())), db_d(static_cast<int64_t>(db.size()));
    DeviceBuffer<unsigned char> ws(gpu::deform_conv2d_workspace_bytes(s));
    const T* mask_p = c.mask ? mask_d.get() : nullptr;
    gpu::deform_conv2d_forward(s, x_d.get(), offset_d.get(), mask_p, w_d.get(), c.bias ? bias_d.get() : nullptr,
                               y_d.get(), ws.get());
    expect_close(y_d.download(), y, kTol<T>, "y " + what);
    gpu::deform_conv2d_backward(s, x_d.get(), offset_d.get(), mask_p, w_d.get(), dy_d.get(), dx_d.get(),
                                doffset_d.get(), dmask_d.get(), dw_d.get(), db_d.get(), ws.get());
    expect_close(dx_d.download(), dx, kTol<T>, "dx " + what);
    expect_close(doffset_d.download(), doffset, kTol<T>, "doffset " + what);
    expect_close(dmask_d.download(), dmask, kTol<T>, "dmask " + what);
    expect_close(dw_d.download(), dw, kTol<T>, "dw " + what);
    expect_close(db_d.download(), db, kTol<T>, "db " + what);
  }
}

// Each gradient alone (the others nullptr) equals the one computed with all of them.
TYPED_TEST(CudaDeformConv, GradientSubsets) {
  using T = TypeParam;
  const DeformConv2dShape s = shape(2, 4, 5, 5, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 2);
  const Data<T> d = make_data<T>(s, 99);
  DeviceBuffer<T> x_d(d.x), offset_d(d.offset), mask_d(d.mask), w_d(d.w), dy_d(d.dy);
  DeviceBuffer<unsigned char> ws(gpu::deform_conv2d_workspace_bytes(s));
  DeviceBuffer<T> dx(static_cast<int64_t>(d.x.size())), doffset(static_cast<int64_t>(d.offset.size())),
      dmask(static_cast<int64_t>(d.mask.size())), dw(static_cast<int64_t>(d.w.size())), db(s.K);
  DeviceBuffer<T> one(static_cast<int64_t>(d.offset.size()));
  gpu::deform_conv2d_backward(s, x_d.get(), offset_d.get(), mask_d.get(), w_d.get(), dy_d.get(), dx.get(),
                              doffset.get(), dmask.get(), dw.get(), db.get(), ws.get());
  auto alone = [&](int which) {
    T* out[5] = {nullptr, nullptr, nullptr, nullptr, nullptr};
    out[which] = one.get();
    gpu::deform_conv2d_backward(s, x_d.get(), offset_d.get(), mask_d.get(), w_d.get(), dy_d.get(), out[0], out[1],
                                out[2], out[3], out[4], ws.get());
    std::vector<T> v = one.download();
    const DeviceBuffer<T>* full[5] = {&dx, &doffset, &dmask, &dw, &db};
    std::vector<T> want = full[which]->download();
    v.resize(want.size());
    return std::make_pair(v, want);
  };
  const char* names[5] = {"dx", "doffset", "dmask", "dw", "db"};
  for (int which = 0; which < 5; ++which) {
    const auto [got, want] = alone(which);
    // dx sums by atomics, in an order that may differ from run to run.
    expect_close(got, want, which == 0 ? kTol<T> : 0.0, std::string(names[which]) + " alone");
  }
}

}  // namespace
