#pragma once
// Tensor: a handle to shared Storage plus shape, strides (in elements), offset, dtype and device.
// Copying a Tensor copies the handle (like torch.Tensor); views share storage.
//
// This header is the runtime core: data access, factories and copies. Views that do not record
// gradients are in graph/views.h (abbe::raw); the differentiable operations users call are in
// autograd/ops.h (abbe::).
#include <cstring>
#include <memory>
#include <vector>

#include "graph/device.h"
#include "graph/dtype.h"
#include "graph/error.h"
#include "graph/shape.h"

namespace abbe {

namespace autograd {
struct Node;
}

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
};

class Generator;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;  // undefined: defined() is false

  // Factories. Contents of empty() are uninitialised.
  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  static Tensor from_vector(const std::vector<float>& values, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape);
  // Uniform in [lo, hi) and standard normal, from a counter-based generator: the same seed gives
  // the same tensor whatever the thread count.
  static Tensor rand(const Shape& shape, Generator& gen, double lo = 0, double hi = 1,
                     DType dtype = DType::f32);
  static Tensor randn(const Shape& shape, Generator& gen, double mean = 0, double stddev = 1,
                      DType dtype = DType::f32);
  // A tensor over existing storage (views).
  static Tensor make_view(std::shared_ptr<Storage> storage, const Shape& shape,
                          const Shape& strides, int64_t offset, DType dtype);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t offset() const;
  int dim() const { return shape().dim(); }
  int64_t size(int d) const;  // negative d counts from the end
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  size_t nbytes() const { return numel() * dtype_size(dtype()); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const;

  // Pointer to element 0 (storage + offset). Checks the dtype.
  template <typename T> T* data() const {
    ABBE_CHECK(dtype() == dtype_of<T>(), "tensor of dtype ", dtype(), " accessed as ",
               dtype_of<T>());
    return static_cast<T*>(raw_data());
  }
  void* raw_data() const;

  // A single-element tensor's value as double (copies from device).
  double item() const;
  // Contents in row-major order as a vector (any layout, any device).
  template <typename T> std::vector<T> to_vector() const;

  Tensor contiguous() const;  // this if already contiguous, else a contiguous copy
  Tensor clone() const;       // always a new contiguous copy
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  // In-place, no gradient recorded (initialisation, optimisers, loading weights).
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0); }
  Tensor& copy_(const Tensor& src);  // same shape; any dtype/layout/device
  // Rebinds this handle (and every copy of it) to src's storage, shape and dtype, keeping its
  // autograd identity — how a module's parameters change dtype or device in place.
  void set_data(const Tensor& src) const;

  // Autograd state. A leaf that requires grad accumulates into grad() during backward.
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on = true);
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<autograd::Node> fn) const;
  // The node that accumulates into this leaf (created on first use).
  std::shared_ptr<autograd::Node> grad_accumulator() const;
  // Runs reverse-mode autograd from this tensor (scalar, or with an explicit gradient).
  void backward(const Tensor& grad = Tensor()) const;
  // The same data as a new leaf that does not require grad.
  Tensor detach() const;

  // True when nothing else can see this tensor's data: no other handle shares its impl and no
  // other tensor (a view, a detached copy) shares its storage. Writing into it in place is
  // then invisible elsewhere (the autograd engine sums gradients in place when it holds one).
  bool is_sole_owner() const;

  TensorImpl* impl() const { return impl_.get(); }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape, strides;
  int64_t offset = 0;
  DType dtype = DType::f32;
  // autograd
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;
  std::weak_ptr<autograd::Node> accumulator;
};

// "[1, 64, 128, 128] float32 cpu" for messages.
std::string describe(const Tensor& t);
// Shapes equal, or a message naming `what`.
void check_same_shape(const Tensor& a, const Tensor& b, const char* what);

}  // namespace abbe
