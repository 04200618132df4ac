#pragma once
// Optimisers: Adam / AdamW and SGD, numerically as torch.optim (PyTorch 1.13, single-tensor path).
// An optimiser holds handles to named parameters (Module::named_parameters()) and its own state
// buffers; step() applies one fused update per parameter (kernels/cpu/optim.h).
//
// Typical loop:
//   train::Adam opt(model.named_parameters(), {.lr = 1e-4});
//   opt.set_lr(schedule.lr_at(step));  loss.backward();  opt.step();  opt.zero_grad();
//
// State (state(), load_state(), checkpoints), for parameter "<p>":
//   "step"                one number: how many times step() ran
//   "step.<p>"            one number: how many updates <p> received (its bias-correction step)
//   "exp_avg.<p>", "exp_avg_sq.<p>"   Adam moments, the shape and dtype of <p>
//   "momentum_buffer.<p>"             SGD with momentum != 0
// Step counts are stored as float64 tensors of shape [1].
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"

namespace abbe::train {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Updates every parameter whose grad is defined; parameters without a grad are skipped and
  // their state left alone (as PyTorch). Grads must match their parameter's shape and dtype.
  void step();
  // Sets every parameter's grad to undefined (PyTorch's set_to_none).
  void zero_grad();

  double lr() const { return lr_; }
  void set_lr(double lr);
  int64_t step_count() const { return step_count_; }
  const NamedTensors& params() const { return params_; }

  // "adam", "adamw" or "sgd": recorded in checkpoints and checked when loading.
  virtual std::string name() const = 0;
  // Hyperparameters as strings (shortest round-trip decimal), e.g. {"lr": "0.001", "beta1": "0.9"}.
  virtual std::map<std::string, std::string> hyperparameters() const = 0;

  // The state entries listed above. Buffers are handles (not copies); the counters are new tensors.
  NamedTensors state() const;
  // Copies `state` in. It must hold exactly the entries state() lists, with the same shapes;
  // everything is validated before anything changes, and errors name the entry.
  void load_state(const std::map<std::string, Tensor>& state);

 protected:
  // buffer_kinds: the per-parameter state buffers, e.g. {"exp_avg", "exp_avg_sq"}; each is
  // allocated as zeros like its parameter.
  Optimizer(NamedTensors params, double lr, std::vector<std::string> buffer_kinds);
  // One update of parameter i with its (contiguous) grad; param_step counts from 1.
  virtual void update(size_t i, const Tensor& grad, int64_t param_step) = 0;
  Tensor& buffer(size_t kind, size_t i) { return buffers_[kind][i]; }

 private:
  NamedTensors params_;
  std::vector<std::string> kinds_;
  std::vector<std::vector<Tensor>> buffers_;  // [kind][parameter]
  std::vector<int64_t> param_steps_;
  int64_t step_count_ = 0;
  double lr_;
};

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  bool decoupled = false;  // false: Adam (L2 added to the gradient); true: AdamW
};

// torch.optim.Adam, or torch.optim.AdamW when decoupled (note AdamW's PyTorch default
// weight_decay is 0.01; here it is whatever the options say). No amsgrad.
class Adam : public Optimizer {
 public:
  explicit Adam(NamedTensors params, const AdamOptions& options = {});
  std::string name() const override { return opt_.decoupled ? "adamw" : "adam"; }
  std::map<std::string, std::string> hyperparameters() const override;
  const AdamOptions& options() const { return opt_; }

 private:
  void update(size_t i, const Tensor& grad, int64_t param_step) override;
  AdamOptions opt_;
};

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // required (no default, as PyTorch)
  double momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;  // requires momentum > 0 and dampening == 0 (as PyTorch)
};

// torch.optim.SGD. The momentum buffer starts as the first (weight-decayed) gradient.
class SGD : public Optimizer {
 public:
  explicit SGD(NamedTensors params, const SGDOptions& options);
  std::string name() const override { return "sgd"; }
  std::map<std::string, std::string> hyperparameters() const override;
  const SGDOptions& options() const { return opt_; }

 private:
  void update(size_t i, const Tensor& grad, int64_t param_step) override;
  SGDOptions opt_;
};

// Shortest decimal that reads back as the same double ("0.001", "1e-08").
std::string format_double(double v);

}  // namespace abbe::train
