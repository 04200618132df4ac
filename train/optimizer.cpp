#include "train/optimizer.h"

#include <charconv>
#include <cmath>
#include <set>

#include "graph/dispatch.h"
#include "kernels/cpu/optim.h"
#include "kernels/cuda/optim.h"

namespace abbe::train {

std::string format_double(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

namespace {
Tensor counter(int64_t n) { return Tensor::full({1}, double(n), DType::f64); }
}  // namespace

Optimizer::Optimizer(NamedTensors params, double lr, std::vector<std::string> buffer_kinds)
    : params_(std::move(params)), kinds_(std::move(buffer_kinds)), lr_(0) {
  set_lr(lr);
  std::set<std::string> seen;
  for (const auto& [name, p] : params_) {
    ABBE_CHECK(!name.empty(), "optimizer: a parameter has an empty name");
    ABBE_CHECK(seen.insert(name).second, "optimizer: parameter '", name, "' is listed twice");
    ABBE_CHECK(p.defined(), "optimizer: parameter '", name, "' is undefined");
    ABBE_CHECK(p.is_contiguous(), "optimizer: parameter '", name, "' ", describe(p),
               " is not contiguous (updates are in place on its storage)");
  }
  buffers_.resize(kinds_.size());
  for (auto& per_param : buffers_)
    for (const auto& [name, p] : params_) per_param.push_back(Tensor::zeros(p.shape(), p.dtype(), p.device()));
  param_steps_.assign(params_.size(), 0);
}

void Optimizer::set_lr(double lr) {
  ABBE_CHECK(std::isfinite(lr) && lr >= 0, "optimizer: learning rate must be finite and >= 0, got ",
             lr);
  lr_ = lr;
}

void Optimizer::step() {
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [name, p] = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    ABBE_CHECK(g.shape() == p.shape() && g.dtype() == p.dtype() && g.device() == p.device(),
               "optimizer step: grad of '", name, "' is ", describe(g), ", the parameter is ",
               describe(p));
    update(i, g.contiguous(), ++param_steps_[i]);
  }
  ++step_count_;
}

void Optimizer::zero_grad() {
  for (const auto& [name, p] : params_) p.set_grad(Tensor());
}

NamedTensors Optimizer::state() const {
  NamedTensors out;
  out.emplace_back("step", counter(step_count_));
  for (size_t i = 0; i < params_.size(); ++i)
    out.emplace_back("step." + params_[i].first, counter(param_steps_[i]));
  for (size_t k = 0; k < kinds_.size(); ++k)
    for (size_t i = 0; i < params_.size(); ++i)
      out.emplace_back(kinds_[k] + "." + params_[i].first, buffers_[k][i]);
  return out;
}

void Optimizer::load_state(const std::map<std::string, Tensor>& state) {
  const std::string who = "optimizer state (" + name() + ")";
  auto find = [&](const std::string& key, const Shape& shape,
                  const std::string& what) -> const Tensor& {
    auto it = state.find(key);
    if (it == state.end())
      ABBE_FAIL(who, ": missing entry '", key, "' (", what, ", expected shape ", shape, ")");
    if (it->second.shape() != shape)
      ABBE_FAIL(who, ": entry '", key, "' has shape ", it->second.shape(), ", expected ", shape,
                " (", what, ")");
    return it->second;
  };
  auto read_count = [&](const std::string& key, const std::string& what) -> int64_t {
    const double v = find(key, {1}, what).item();
    if (!(v >= 0 && v <= 9007199254740992.0 && v == std::floor(v)))
      ABBE_FAIL(who, ": entry '", key, "' must be a whole number >= 0, got ", v);
    return int64_t(v);
  };

  // Validate everything first so a bad state leaves the optimiser untouched.
  const int64_t step_count = read_count("step", "number of steps taken");
  std::vector<int64_t> param_steps(params_.size());
  std::vector<std::vector<const Tensor*>> src(kinds_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& [pname, p] = params_[i];
    param_steps[i] = read_count("step." + pname, "update count of parameter '" + pname + "'");
    for (size_t k = 0; k < kinds_.size(); ++k)
      src[k].push_back(
          &find(kinds_[k] + "." + pname, p.shape(), kinds_[k] + " of parameter '" + pname + "'"));
  }
  const size_t expected = 1 + params_.size() * (1 + kinds_.size());
  if (state.size() != expected) {
    std::set<std::string> known;
    for (const auto& [key, t] : this->state()) known.insert(key);
    for (const auto& [key, t] : state)
      if (!known.count(key))
        ABBE_FAIL(who, ": unexpected entry '", key, "' ", t.shape(),
                  " (no such parameter or buffer in this optimizer)");
  }

  step_count_ = step_count;
  param_steps_ = param_steps;
  for (size_t k = 0; k < kinds_.size(); ++k)
    for (size_t i = 0; i < params_.size(); ++i) buffers_[k][i].copy_(*src[k][i]);
}

// ---- Adam ----

Adam::Adam(NamedTensors params, const AdamOptions& o)
    : Optimizer(std::move(params), o.lr, {"exp_avg", "exp_avg_sq"}), opt_(o) {
  ABBE_CHECK(o.beta1 >= 0 && o.beta1 < 1, "Adam: beta1 must be in [0, 1), got ", o.beta1);
  ABBE_CHECK(o.beta2 >= 0 && o.beta2 < 1, "Adam: beta2 must be in [0, 1), got ", o.beta2);
  ABBE_CHECK(o.eps >= 0, "Adam: eps must be >= 0, got ", o.eps);
  ABBE_CHECK(o.weight_decay >= 0, "Adam: weight_decay must be >= 0, got ", o.weight_decay);
}

std::map<std::string, std::string> Adam::hyperparameters() const {
  return {{"lr", format_double(lr())},
          {"beta1", format_double(opt_.beta1)},
          {"beta2", format_double(opt_.beta2)},
          {"eps", format_double(opt_.eps)},
          {"weight_decay", format_double(opt_.weight_decay)}};
}

void Adam::update(size_t i, const Tensor& grad, int64_t param_step) {
  const Tensor& p = params()[i].second;
  dispatch_float(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    ABBE_KERNEL(p.device(), adam_step<T>, p.numel(), p.data<T>(), grad.data<T>(), buffer(0, i).data<T>(),
                buffer(1, i).data<T>(), lr(), opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay,
                opt_.decoupled, param_step);
  });
}

// ---- SGD ----

SGD::SGD(NamedTensors params, const SGDOptions& o)
    : Optimizer(std::move(params), std::isnan(o.lr) ? 0.0 : o.lr,
                o.momentum != 0 ? std::vector<std::string>{"momentum_buffer"}
                                : std::vector<std::string>{}),
      opt_(o) {
  ABBE_CHECK(!std::isnan(o.lr),
             "SGD: SGDOptions::lr must be set (it has no default, as in PyTorch)");
  ABBE_CHECK(o.momentum >= 0, "SGD: momentum must be >= 0, got ", o.momentum);
  ABBE_CHECK(o.weight_decay >= 0, "SGD: weight_decay must be >= 0, got ", o.weight_decay);
  ABBE_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
             "SGD: nesterov needs momentum > 0 and dampening == 0, got momentum ", o.momentum,
             ", dampening ", o.dampening);
}

std::map<std::string, std::string> SGD::hyperparameters() const {
  return {{"lr", format_double(lr())},
          {"momentum", format_double(opt_.momentum)},
          {"dampening", format_double(opt_.dampening)},
          {"weight_decay", format_double(opt_.weight_decay)},
          {"nesterov", opt_.nesterov ? "true" : "false"}};
}

void SGD::update(size_t i, const Tensor& grad, int64_t param_step) {
  const Tensor& p = params()[i].second;
  dispatch_float(p.dtype(), [&](auto tag) {
    using T = decltype(tag);
    T* buf = opt_.momentum != 0 ? buffer(0, i).data<T>() : nullptr;
    ABBE_KERNEL(p.device(), sgd_step<T>, p.numel(), p.data<T>(), grad.data<T>(), buf, lr(), opt_.momentum,
                opt_.dampening, opt_.weight_decay, opt_.nesterov, param_step == 1);
  });
}

}  // namespace abbe::train
