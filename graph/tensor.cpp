#include "graph/tensor.h"

#include <sstream>

#include "graph/allocator.h"
#include "graph/rng.h"
#include "kernels/cpu/copy.h"
#include "kernels/cuda/copy.h"  // declarations only; CPU-only builds never instantiate the calls
#include "kernels/cuda/device.h"

namespace abbe {

// ---- Storage ----

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = allocator_for(device).allocate(nbytes);
}
Storage::~Storage() { allocator_for(device_).deallocate(data_, nbytes_); }

// ---- factories ----

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  ABBE_CHECK(shape.dim() <= kMaxDims, "tensors have at most ", kMaxDims, " dims, got shape ", shape);
  for (int64_t s : shape) ABBE_CHECK(s >= 0, "negative size in shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(shape.numel() * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::make_view(std::shared_ptr<Storage> storage, const Shape& shape, const Shape& strides,
                         int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

template <typename T>
static Tensor from_values(const std::vector<T>& values, const Shape& shape) {
  ABBE_CHECK(static_cast<int64_t>(values.size()) == shape.numel(), "from_vector: ", values.size(),
             " values do not fill shape ", shape);
  Tensor t = Tensor::empty(shape, dtype_of<T>());
  std::memcpy(t.raw_data(), values.data(), values.size() * sizeof(T));
  return t;
}
Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s) { return from_values(v, s); }
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s) { return from_values(v, s); }

// A tensor whose element i is draw(seed, offset + i): counter-based, so thread-count independent.
template <typename Draw>
static Tensor random_tensor(const Shape& shape, Generator& gen, DType dtype, Draw draw) {
  Tensor t = Tensor::empty(shape, dtype);
  const int64_t n = t.numel();
  const uint64_t base = gen.take(n), seed = gen.seed();
  dispatch_float(dtype, [&](auto tag) {
    using T = decltype(tag);
    T* p = t.data<T>();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(draw(seed, base + i));
  });
  return t;
}

Tensor Tensor::rand(const Shape& shape, Generator& gen, double lo, double hi, DType dtype) {
  return random_tensor(shape, gen, dtype, [lo, hi](uint64_t seed, uint64_t c) {
    return lo + (hi - lo) * Philox::uniform_double(seed, c);
  });
}

Tensor Tensor::randn(const Shape& shape, Generator& gen, double mean, double stddev, DType dtype) {
  return random_tensor(shape, gen, dtype, [mean, stddev](uint64_t seed, uint64_t c) {
    return mean + stddev * Philox::normal(seed, c);
  });
}

Generator& default_generator() {
  static Generator gen;
  return gen;
}

// ---- metadata ----

const Shape& Tensor::shape() const {
  ABBE_CHECK(defined(), "use of an undefined tensor");
  return impl_->shape;
}
const Shape& Tensor::strides() const { return impl_->strides; }
int64_t Tensor::offset() const { return impl_->offset; }
DType Tensor::dtype() const { return impl_->dtype; }
Device Tensor::device() const { return impl_->storage->device(); }
const std::shared_ptr<Storage>& Tensor::storage() const { return impl_->storage; }
void* Tensor::raw_data() const {
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * dtype_size(impl_->dtype);
}

int64_t Tensor::size(int d) const {
  const int nd = dim();
  if (d < 0) d += nd;
  ABBE_CHECK(d >= 0 && d < nd, "dim ", d, " out of range for shape ", shape());
  return shape()[d];
}

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (impl_->shape[i] != 1 && impl_->strides[i] != expect) return false;
    expect *= impl_->shape[i];
  }
  return true;
}

bool Tensor::is_sole_owner() const {
  return impl_ && impl_.use_count() == 1 && impl_->storage.use_count() == 1;
}

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  std::ostringstream os;
  os << t.shape() << ' ' << t.dtype() << ' ' << t.device();
  return os.str();
}

void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
  ABBE_CHECK(a.shape() == b.shape(), what, ": shapes differ, ", a.shape(), " vs ", b.shape());
}

// ---- copies ----

// Copies between two tensors on one device, any dtypes and layouts.
static void copy_same_device(const Tensor& dst, const Tensor& src) {
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
#if ABBE_WITH_CUDA
    if (dst.device().is_cuda()) return cuda::copy_device(dst.raw_data(), src.raw_data(), dst.nbytes());
#endif
    std::memcpy(dst.raw_data(), src.raw_data(), dst.nbytes());
    return;
  }
  dispatch_float(src.dtype(), [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch_float(dst.dtype(), [&](auto dst_tag) {
      using D = decltype(dst_tag);
      if constexpr (kCudaBackend) {
        if (dst.device().is_cuda())
          return kernels::cuda::strided_copy<S, D>(dst.dim(), dst.shape().data(), src.data<S>(),
                                                   src.strides().data(), dst.data<D>(),
                                                   dst.strides().data(), cuda::current_stream());
      }
      kernels::cpu::strided_copy<S, D>(dst.dim(), dst.shape().data(), src.data<S>(), src.strides().data(),
                                       dst.data<D>(), dst.strides().data());
    });
  });
}

Tensor& Tensor::copy_(const Tensor& src) {
  ABBE_CHECK(src.shape() == shape(), "copy_: source shape ", src.shape(), " != destination shape ",
             shape());
  if (numel() == 0) return *this;
  if (src.device() == device()) {
    copy_same_device(*this, src);
    return *this;
  }
#if ABBE_WITH_CUDA
  // Across devices: convert and compact on the source side, move the bytes, then scatter into
  // this tensor's layout on its side. Uploads are asynchronous, downloads wait for the data.
  const bool direct = is_contiguous();
  Tensor staged = src.to(dtype()).contiguous();
  Tensor landing = direct ? *this : empty(shape(), dtype(), device());
  if (device().is_cuda())
    cuda::upload(landing.raw_data(), staged.raw_data(), nbytes());
  else
    cuda::download(landing.raw_data(), staged.raw_data(), nbytes());
  if (!direct) copy_same_device(*this, landing);
  return *this;
#else
  ABBE_FAIL("copy_: ", src.device(), " -> ", device(), ": this build of abbe has no CUDA backend");
#endif
}

Tensor& Tensor::fill_(double value) {
  if (!is_contiguous()) return copy_(full(shape(), value, dtype(), device()));
  dispatch_float(dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    if constexpr (kCudaBackend) {
      if (device().is_cuda())
        return kernels::cuda::fill<scalar_t>(numel(), static_cast<scalar_t>(value), data<scalar_t>(),
                                             cuda::current_stream());
    }
    kernels::cpu::fill<scalar_t>(numel(), static_cast<scalar_t>(value), data<scalar_t>());
  });
  return *this;
}

void Tensor::set_data(const Tensor& src) const {
  ABBE_CHECK(defined() && src.defined(), "set_data on an undefined tensor");
  impl_->storage = src.impl_->storage;
  impl_->shape = src.impl_->shape;
  impl_->strides = src.impl_->strides;
  impl_->offset = src.impl_->offset;
  impl_->dtype = src.impl_->dtype;
  impl_->grad = Tensor();
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = empty(shape(), dtype(), d);
  out.copy_(*this);
  return out;
}

double Tensor::item() const {
  ABBE_CHECK(numel() == 1, "item() needs a single-element tensor, got shape ", shape());
  const Tensor host = to(Device::cpu());
  return dispatch_float(dtype(), [&](auto tag) {
    using scalar_t = decltype(tag);
    return static_cast<double>(*host.data<scalar_t>());
  });
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(dtype_of<T>()).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;

// ---- autograd state (the engine is in autograd/) ----

bool Tensor::requires_grad() const { return impl_->requires_grad; }
Tensor& Tensor::set_requires_grad(bool on) {
  ABBE_CHECK(!on || impl_->grad_fn == nullptr || impl_->requires_grad,
             "set_requires_grad on a non-leaf tensor");
  impl_->requires_grad = on;
  return *this;
}
bool Tensor::is_leaf() const { return impl_->grad_fn == nullptr; }
Tensor Tensor::grad() const { return impl_->grad; }
void Tensor::set_grad(const Tensor& g) const { impl_->grad = g; }
const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const { return impl_->grad_fn; }
void Tensor::set_grad_fn(std::shared_ptr<autograd::Node> fn) const {
  impl_->grad_fn = std::move(fn);
  impl_->requires_grad = impl_->grad_fn != nullptr || impl_->requires_grad;
}
Tensor Tensor::detach() const {
  return make_view(impl_->storage, impl_->shape, impl_->strides, impl_->offset, impl_->dtype);
}

}  // namespace abbe
