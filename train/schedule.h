#pragma once
// Learning-rate schedules as closed forms of the step number t (0-based: the lr for the update
// that follows t earlier updates), matching torch.optim.lr_scheduler stepped once per unit of t:
//   ConstantLR          base * (t < total_iters ? factor : 1)       (defaults: a constant)
//   StepLR              base * gamma^floor(t / step_size)
//   MultiStepLR         base * gamma^(number of milestones <= t)
//   CosineAnnealingLR   eta_min + (base - eta_min) (1 + cos(pi t / T_max)) / 2
// Cosine is periodic past T_max exactly as PyTorch's closed form; give T_max = total steps.
// Usage: opt.set_lr(schedule->lr_at(step)) before each opt.step().
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace abbe::train {

class LRSchedule {
 public:
  virtual ~LRSchedule() = default;
  virtual double lr_at(int64_t step) const = 0;
  // "cosine(base=0.001, T_max=1000, eta_min=0)" for logs.
  virtual std::string describe() const = 0;
};

class ConstantLR : public LRSchedule {
 public:
  explicit ConstantLR(double base_lr, double factor = 1.0, int64_t total_iters = 0);
  double lr_at(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_, factor_;
  int64_t total_iters_;
};

class StepLR : public LRSchedule {
 public:
  StepLR(double base_lr, int64_t step_size, double gamma = 0.1);
  double lr_at(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_;
  int64_t step_size_;
  double gamma_;
};

class MultiStepLR : public LRSchedule {
 public:
  // milestones must be increasing (PyTorch counts repeated milestones twice; here that is an
  // error).
  MultiStepLR(double base_lr, std::vector<int64_t> milestones, double gamma = 0.1);
  double lr_at(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_;
  std::vector<int64_t> milestones_;
  double gamma_;
};

class CosineAnnealingLR : public LRSchedule {
 public:
  CosineAnnealingLR(double base_lr, int64_t T_max, double eta_min = 0);
  double lr_at(int64_t step) const override;
  std::string describe() const override;

 private:
  double base_;
  int64_t T_max_;
  double eta_min_;
};

// A schedule from a command-line spec; total_steps is the length of the run:
//   "constant"
//   "cosine"  or  "cosine:<eta_min>"          (T_max = total_steps)
//   "step:<step_size>:<gamma>"                e.g. "step:1000:0.5"
//   "multistep:<m1>,<m2>,...:<gamma>"         e.g. "multistep:1000,2000:0.5"
// A bad spec throws abbe::Error quoting it and the accepted forms.
std::unique_ptr<LRSchedule> make_schedule(const std::string& spec, double base_lr,
                                          int64_t total_steps);

}  // namespace abbe::train
