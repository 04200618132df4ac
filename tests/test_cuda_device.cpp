// The CUDA device runtime (kernels/cuda/device.h) on the emulator: device tensors, copies both
// ways in any layout and dtype, the caching allocator's reuse per stream, events, and device
// selection with its messages.
#include <gtest/gtest.h>

#include <functional>

#include "graph/views.h"
#include "kernels/cuda/device.h"
#include "tests/testing.h"

namespace abbe {
namespace {

const Device kCuda = Device::cuda();

TEST(CudaDevice, EmulatorIsAUsableDevice) {
  const cuda::DeviceStatus& s = cuda::device_status();
  EXPECT_TRUE(s.usable);
  EXPECT_TRUE(s.emulated);
  EXPECT_EQ(s.count, 1);
  EXPECT_TRUE(device_usable(kCuda));
  EXPECT_FALSE(device_usable(Device::cuda(1)));
}

TEST(CudaDevice, RoundTripKeepsValuesAndDtype) {
  for (DType dt : {DType::f32, DType::f64}) {
    const Tensor a = testing::random_tensor({3, 4, 5}, 7, -2, 2, dt);
    const Tensor d = a.to(kCuda);
    EXPECT_EQ(d.device(), kCuda);
    EXPECT_EQ(d.dtype(), dt);
    EXPECT_NE(d.raw_data(), a.raw_data());
    const Tensor back = d.to(Device::cpu());
    EXPECT_EQ(back.to_vector<double>(), a.to_vector<double>());
  }
}

TEST(CudaDevice, CopiesAnyLayoutAndDtypeAcrossDevices) {
  const Tensor a = testing::random_tensor({4, 6, 5}, 11, -1, 1, DType::f64);
  const Tensor view = raw::permute(raw::narrow(a, 1, 1, 4), {2, 0, 1});  // (5, 4, 4), strided
  // CPU strided f64 -> CUDA contiguous f32.
  Tensor d = Tensor::empty(view.shape(), DType::f32, kCuda);
  d.copy_(view);
  EXPECT_ALL_CLOSE(d.to(Device::cpu()), view.to(DType::f32), 0, 0);
  // CUDA strided -> CPU strided destination.
  const Tensor dv = raw::permute(d, {1, 2, 0});  // (4, 4, 5), strided on the device
  Tensor host = Tensor::zeros({5, 4, 4}, DType::f64);
  Tensor host_view = raw::permute(host, {1, 2, 0});
  host_view.copy_(dv);
  EXPECT_ALL_CLOSE(host, view.to(DType::f32).to(DType::f64), 0, 0);
  // contiguous() and clone() of a device view stay on the device.
  const Tensor c = dv.contiguous();
  EXPECT_EQ(c.device(), kCuda);
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_ALL_CLOSE(c.to(Device::cpu()), raw::permute(view, {1, 2, 0}).to(DType::f32), 0, 0);
}

TEST(CudaDevice, StridedCopyMatchesTheCpuOnEveryKindOfView) {
  // Each view is taken of the same base on both devices and made contiguous there: the device
  // kernel (size-1 dims dropped, contiguous dims merged, broadcasts with stride 0) against the CPU's.
  using View = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, View>> views = {
      {"permute 5-D", [](const Tensor& t) { return raw::permute(t, {4, 2, 0, 3, 1}); }},
      {"narrow inner", [](const Tensor& t) { return raw::narrow(t, 4, 1, 3); }},
      {"narrow outer (mergeable)", [](const Tensor& t) { return raw::narrow(t, 0, 1, 1); }},
      {"select + permute", [](const Tensor& t) { return raw::permute(raw::select(t, 2, 1), {3, 0, 2, 1}); }},
      {"broadcast", [](const Tensor& t) {
         return raw::expand(raw::narrow(raw::reshape(t, {2, 3, 4, 30}), 3, 0, 1), {2, 3, 4, 7});
       }},
  };
  for (DType from : {DType::f32, DType::f64}) {
    const Tensor base = testing::random_tensor({2, 3, 4, 5, 6}, 3, -1, 1, from);
    const Tensor dev = base.to(kCuda);
    for (const auto& [name, view] : views) {
      SCOPED_TRACE(name);
      EXPECT_ALL_CLOSE(view(dev).contiguous().to(Device::cpu()), view(base).contiguous(), 0, 0);
      const DType to = from == DType::f32 ? DType::f64 : DType::f32;  // with a conversion
      EXPECT_ALL_CLOSE(view(dev).to(to).to(Device::cpu()), view(base).to(to), 0, 0);
    }
  }
}

TEST(CudaDevice, FillAndItem) {
  Tensor t = Tensor::full({1000}, 2.5, DType::f32, kCuda);
  EXPECT_EQ(t.to_vector<float>(), std::vector<float>(1000, 2.5f));
  Tensor s = Tensor::zeros({1}, DType::f64, kCuda);
  EXPECT_EQ(s.item(), 0.0);
  raw::narrow(t, 0, 10, 5).fill_(-1);  // strided fill goes through a copy
  EXPECT_EQ(t.to_vector<float>()[12], -1.0f);
  EXPECT_EQ(t.to_vector<float>()[15], 2.5f);
}

TEST(CudaDevice, OpsRefuseMixedDevices) {
  const Tensor a = Tensor::ones({3}), b = Tensor::ones({3}, DType::f32, kCuda);
  try {
    (void)add(a, b);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("inputs on different devices (cpu and cuda:0)"), std::string::npos)
        << e.what();
  }
}

TEST(CudaAllocator, ReusesFreedBlocksOnTheSameStreamOnly) {
  Allocator& alloc = cuda::device_allocator();
  alloc.empty_cache();
  const AllocatorStats s0 = alloc.stats();
  void* p = alloc.allocate(1000);
  alloc.deallocate(p, 1000);
  void* q = alloc.allocate(900);  // same size class, same (default) stream: the same block
  EXPECT_EQ(q, p);
  alloc.deallocate(q, 900);
  {
    cuda::Stream stream;
    cuda::StreamGuard guard(stream.get());
    void* r = alloc.allocate(1000);  // another stream: never a block the default stream freed
    EXPECT_NE(r, p);
    alloc.deallocate(r, 1000);
  }
  const AllocatorStats s1 = alloc.stats();
  EXPECT_EQ(s1.in_use, s0.in_use);
  EXPECT_EQ(s1.cache_hits - s0.cache_hits, 1u);
  EXPECT_GE(s1.cached, 2u * 1024);
  alloc.empty_cache();
  EXPECT_EQ(alloc.stats().cached, 0u);
}

TEST(CudaAllocator, RefusesAPointerItDidNotAllocate) {
  int x = 0;
  EXPECT_THROW(cuda::device_allocator().deallocate(&x, 4), Error);
}

TEST(CudaStream, WorkOnAStreamAndEventsTimeIt) {
  cuda::Stream stream;
  cuda::StreamGuard guard(stream.get());
  EXPECT_EQ(cuda::current_stream(), stream.get());
  cuda::Event start, stop;
  start.record();
  const Tensor t = mul_scalar(Tensor::ones({4096}, DType::f32, kCuda), 3);
  stop.record();
  stop.wait();
  EXPECT_GE(start.elapsed_ms(stop), 0.0f);
  EXPECT_EQ(t.to_vector<float>()[4095], 3.0f);
}

TEST(SelectDevice, NamesWhatHappens) {
  EXPECT_EQ(select_device("cpu"), Device::cpu());
  EXPECT_EQ(select_device("cuda"), kCuda);  // the emulator is usable
  std::string note;
  EXPECT_EQ(select_device("auto", &note), Device::cpu());  // auto never picks the emulator
  EXPECT_NE(note.find("emulator"), std::string::npos) << note;
  try {
    select_device("gpu");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown device 'gpu' (expected cpu, cuda or auto)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(select_device("cuda:1"), Error);
}

}  // namespace
}  // namespace abbe
