#include "train/schedule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <numbers>
#include <sstream>

#include "graph/error.h"
#include "train/optimizer.h"

namespace abbe::train {

namespace {
void check_base(const char* what, double base_lr) {
  ABBE_CHECK(std::isfinite(base_lr) && base_lr >= 0, what,
             ": base learning rate must be finite and >= 0, got ", base_lr);
}
void check_step(const char* what, int64_t step) {
  ABBE_CHECK(step >= 0, what, ": step must be >= 0, got ", step);
}
}  // namespace

ConstantLR::ConstantLR(double base_lr, double factor, int64_t total_iters)
    : base_(base_lr), factor_(factor), total_iters_(total_iters) {
  check_base("ConstantLR", base_lr);
  ABBE_CHECK(factor >= 0 && factor <= 1, "ConstantLR: factor must be in [0, 1], got ", factor);
  ABBE_CHECK(total_iters >= 0, "ConstantLR: total_iters must be >= 0, got ", total_iters);
}
double ConstantLR::lr_at(int64_t step) const {
  check_step("ConstantLR", step);
  return step < total_iters_ ? base_ * factor_ : base_;
}
std::string ConstantLR::describe() const {
  std::string s = "constant(base=" + format_double(base_);
  if (total_iters_ > 0)
    s += ", factor=" + format_double(factor_) + ", total_iters=" + std::to_string(total_iters_);
  return s + ")";
}

StepLR::StepLR(double base_lr, int64_t step_size, double gamma)
    : base_(base_lr), step_size_(step_size), gamma_(gamma) {
  check_base("StepLR", base_lr);
  ABBE_CHECK(step_size > 0, "StepLR: step_size must be > 0, got ", step_size);
  ABBE_CHECK(gamma >= 0, "StepLR: gamma must be >= 0, got ", gamma);
}
double StepLR::lr_at(int64_t step) const {
  check_step("StepLR", step);
  return base_ * std::pow(gamma_, double(step / step_size_));
}
std::string StepLR::describe() const {
  return "step(base=" + format_double(base_) + ", step_size=" + std::to_string(step_size_) +
         ", gamma=" + format_double(gamma_) + ")";
}

MultiStepLR::MultiStepLR(double base_lr, std::vector<int64_t> milestones, double gamma)
    : base_(base_lr), milestones_(std::move(milestones)), gamma_(gamma) {
  check_base("MultiStepLR", base_lr);
  ABBE_CHECK(gamma >= 0, "MultiStepLR: gamma must be >= 0, got ", gamma);
  for (size_t i = 0; i < milestones_.size(); ++i) {
    ABBE_CHECK(milestones_[i] > 0, "MultiStepLR: milestones must be > 0, got ", milestones_[i]);
    ABBE_CHECK(i == 0 || milestones_[i] > milestones_[i - 1],
               "MultiStepLR: milestones must be increasing, got ", milestones_[i - 1], " then ",
               milestones_[i]);
  }
}
double MultiStepLR::lr_at(int64_t step) const {
  check_step("MultiStepLR", step);
  // bisect_right: milestones reached so far.
  const auto passed =
      std::upper_bound(milestones_.begin(), milestones_.end(), step) - milestones_.begin();
  return base_ * std::pow(gamma_, double(passed));
}
std::string MultiStepLR::describe() const {
  std::string s = "multistep(base=" + format_double(base_) + ", milestones=[";
  for (size_t i = 0; i < milestones_.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(milestones_[i]);
  }
  return s + "], gamma=" + format_double(gamma_) + ")";
}

CosineAnnealingLR::CosineAnnealingLR(double base_lr, int64_t T_max, double eta_min)
    : base_(base_lr), T_max_(T_max), eta_min_(eta_min) {
  check_base("CosineAnnealingLR", base_lr);
  ABBE_CHECK(T_max > 0, "CosineAnnealingLR: T_max must be > 0, got ", T_max);
  ABBE_CHECK(std::isfinite(eta_min) && eta_min >= 0,
             "CosineAnnealingLR: eta_min must be >= 0, got ", eta_min);
}
double CosineAnnealingLR::lr_at(int64_t step) const {
  check_step("CosineAnnealingLR", step);
  return eta_min_ +
         (base_ - eta_min_) * (1 + std::cos(std::numbers::pi * double(step) / double(T_max_))) / 2;
}
std::string CosineAnnealingLR::describe() const {
  return "cosine(base=" + format_double(base_) + ", T_max=" + std::to_string(T_max_) +
         ", eta_min=" + format_double(eta_min_) + ")";
}

// ---- make_schedule ----

namespace {
constexpr const char* kForms =
    "expected one of: constant | cosine | cosine:<eta_min> | step:<step_size>:<gamma> | "
    "multistep:<m1>,<m2>,...:<gamma>";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream is(s);
  while (std::getline(is, cur, sep)) out.push_back(cur);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

template <typename T>
T parse_number(const std::string& text, const std::string& spec, const char* what) {
  T v{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc() || ptr != end)
    ABBE_FAIL("learning-rate schedule '", spec, "': ", what, " '", text, "' is not a number; ",
              kForms);
  return v;
}
}  // namespace

std::unique_ptr<LRSchedule> make_schedule(const std::string& spec, double base_lr,
                                          int64_t total_steps) {
  const std::vector<std::string> parts = split(spec, ':');
  const std::string kind = parts.empty() ? "" : parts[0];
  auto bad = [&](const std::string& why) {
    ABBE_FAIL("learning-rate schedule '", spec, "': ", why, "; ", kForms);
  };
  try {
    if (kind == "constant") {
      if (parts.size() != 1) bad("'constant' takes no arguments");
      return std::make_unique<ConstantLR>(base_lr);
    }
    if (kind == "cosine") {
      if (parts.size() > 2) bad("too many fields");
      if (total_steps <= 0)
        bad("cosine needs the run length, got total_steps " + std::to_string(total_steps));
      const double eta_min =
          parts.size() == 2 ? parse_number<double>(parts[1], spec, "eta_min") : 0.0;
      return std::make_unique<CosineAnnealingLR>(base_lr, total_steps, eta_min);
    }
    if (kind == "step") {
      if (parts.size() != 3) bad("'step' needs a step size and a gamma");
      return std::make_unique<StepLR>(base_lr, parse_number<int64_t>(parts[1], spec, "step size"),
                                      parse_number<double>(parts[2], spec, "gamma"));
    }
    if (kind == "multistep") {
      if (parts.size() != 3) bad("'multistep' needs milestones and a gamma");
      std::vector<int64_t> milestones;
      for (const std::string& m : split(parts[1], ','))
        milestones.push_back(parse_number<int64_t>(m, spec, "milestone"));
      if (milestones.empty()) bad("no milestones");
      return std::make_unique<MultiStepLR>(base_lr, std::move(milestones),
                                           parse_number<double>(parts[2], spec, "gamma"));
    }
  } catch (const Error& e) {
    // Constructor checks (e.g. a zero step size): say which spec produced them.
    if (std::string(e.what()).find("learning-rate schedule '") != std::string::npos) throw;
    ABBE_FAIL("learning-rate schedule '", spec, "': ", e.what());
  }
  bad("unknown schedule '" + kind + "'");
  return nullptr;  // not reached
}

}  // namespace abbe::train
