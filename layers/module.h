#pragma once
// Module: named parameters, buffers and child modules, train/eval, and a state dict with
// PyTorch-style dotted names ("feat_extract.main.2.0.conv1.weight"), so converted PyTorch
// checkpoints load by name. Parameters are Tensor handles: loading copies values into the
// existing storage, so references held elsewhere (optimisers) stay valid.
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/ops.h"

namespace abbe {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module {
 public:
  virtual ~Module() = default;

  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  NamedTensors named_buffers() const;
  // Parameters and buffers, in registration order.
  NamedTensors state_dict() const;
  // Copies values by name. strict: every entry must match a parameter or buffer and every
  // parameter/buffer must be present. Shapes must match. Throws naming the first problem.
  void load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);
  int64_t parameter_count() const;

  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Monte Carlo dropout: when on, Dropout layers stay active in eval mode.
  void set_mc_dropout(bool on);
  bool mc_dropout() const { return mc_dropout_; }
  void zero_grad();
  // Converts every parameter and buffer to dtype in place (float64 for gradchecks and parity).
  void to(DType dtype);
  // Moves every parameter and buffer to `device` in place (handles stay valid; grads are dropped).
  void to(Device device);

 protected:
  Tensor register_parameter(const std::string& name, Tensor t);
  Tensor register_buffer(const std::string& name, Tensor t);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
    children_.emplace_back(name, m);
    return m;
  }
  virtual void on_train(bool) {}

 private:
  void collect(const std::string& prefix, NamedTensors& out, bool params, bool buffers) const;

  NamedTensors params_, buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
  bool mc_dropout_ = false;
};

// A module with one tensor in and one out; what Sequential chains.
class UnaryModule : public Module {
 public:
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

class Sequential : public UnaryModule {
 public:
  Sequential() = default;
  // Children are named "0", "1", ... as in torch.nn.Sequential.
  void push_back(std::shared_ptr<UnaryModule> m);
  Tensor forward(const Tensor& x) override;
  size_t size() const { return layers_.size(); }
  UnaryModule& operator[](size_t i) { return *layers_[i]; }

 private:
  std::vector<std::shared_ptr<UnaryModule>> layers_;
};

}  // namespace abbe
