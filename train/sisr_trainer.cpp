#include "train/sisr_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "data/normalize.h"
#include "data/safetensors.h"
#include "graph/views.h"
#include "metrics/image_metrics.h"
#include "train/augment.h"
#include "train/checkpoint.h"

namespace abbe::train {
namespace {

// A check on user input (flags, files): the message alone, without the source location that
// ABBE_CHECK adds for programming errors.
template <typename... Args>
void require(bool ok, const Args&... args) {
  if (!ok) throw Error(detail::concat(args...));
}

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Counter layout of the Philox streams (graph/rng.h): step t's batch draws start at t << 20 in
// the data stream; its dropout masks at (t + 1) << 36 in the net's stream (below that: init).
constexpr int kBatchShift = 20, kDropoutShift = 36;
constexpr uint64_t kDataStream = 0x9E3779B97F4A7C15ull;  // xor'ed into the seed

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string str(double v) { return format_double(v); }

}  // namespace

std::map<std::string, std::string> sisr_metadata(const SisrConfig& c) {
  return {{"net", "sisr"},
          {"scale", std::to_string(c.scale)},
          {"channels", std::to_string(c.channels)},
          {"n_extract", std::to_string(c.n_extract)},
          {"n_recon", std::to_string(c.n_recon)},
          {"bayesian", c.bayesian ? "1" : "0"},
          {"dropout", str(c.dropout)}};
}

bool sisr_config_from_metadata(const std::map<std::string, std::string>& meta, SisrConfig& cfg) {
  auto net = meta.find("net");
  if (net == meta.end()) return false;
  require(net->second == "sisr", "the checkpoint holds a '", net->second, "' net, not 'sisr'");
  SisrConfig c = cfg;
  auto get = [&](const char* key) -> const std::string* {
    auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  auto get_int = [&](const char* key, int64_t lo, int64_t hi, auto& out) {
    const std::string* s = get(key);
    if (!s) return;
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(*s, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    require(used == s->size() && !s->empty() && v >= lo && v <= hi, "checkpoint metadata '", key,
            "' = '", *s, "' is not an integer in [", lo, ", ", hi, "]");
    out = static_cast<std::remove_reference_t<decltype(out)>>(v);
  };
  get_int("scale", 1, 8, c.scale);
  get_int("channels", 1, 4096, c.channels);
  get_int("n_extract", 0, 1000, c.n_extract);
  get_int("n_recon", 0, 1000, c.n_recon);
  int64_t bayes = c.bayesian;
  get_int("bayesian", 0, 1, bayes);
  c.bayesian = bayes != 0;
  if (const std::string* d = get("dropout")) {
    char* end = nullptr;
    const double v = std::strtod(d->c_str(), &end);
    require(!d->empty() && *end == '\0' && v >= 0 && v < 1, "checkpoint metadata 'dropout' = '", *d,
            "' is not a number in [0, 1)");
    c.dropout = v;
  }
  cfg = c;
  return true;
}

SisrTrainer::SisrTrainer(const SisrTrainOptions& o, const Tensor& lr_stack, const Tensor& gt_stack)
    : opt_(o), gen_(o.seed), best_psnr_(-std::numeric_limits<double>::infinity()) {
  const int64_t f = o.net.scale;
  require(!o.net.bayesian,
          "SISR training: the Bayesian variant (Laplace NLL) is not supported yet");
  require(o.steps >= 1, "SISR training: steps must be >= 1, got ", o.steps);
  require(o.batch >= 1 && o.batch <= 4096, "SISR training: batch must be 1..4096, got ", o.batch);
  require(o.patch >= 4, "SISR training: patch must be >= 4, got ", o.patch);
  require(std::isfinite(o.lr) && o.lr > 0, "SISR training: learning rate must be > 0, got ", o.lr);
  require(o.val_every >= 0 && o.checkpoint_every >= 0,
          "SISR training: validation and checkpoint periods must be >= 0");
  require(lr_stack.defined() && lr_stack.dim() == 3,
          "SISR training: the LR stack must be (n,h,w), got ",
          lr_stack.defined() ? describe(lr_stack) : std::string("nothing"));
  require(gt_stack.defined() && gt_stack.dim() == 3,
          "SISR training: the GT stack must be (n,H,W), got ",
          gt_stack.defined() ? describe(gt_stack) : std::string("nothing"));
  const int64_t n = lr_stack.size(0), h = lr_stack.size(1), w = lr_stack.size(2);
  require(gt_stack.size(0) == n, "SISR training: the LR stack has ", n,
          " images but the GT stack has ", gt_stack.size(0));
  require(gt_stack.size(1) == f * h && gt_stack.size(2) == f * w,
          "SISR training: GT images must be scale x LR images: LR ", h, " x ", w, " at scale ", f,
          " needs GT ", f * h, " x ", f * w, ", got ", gt_stack.size(1), " x ", gt_stack.size(2));
  require(o.patch <= h && o.patch <= w, "SISR training: patch ", o.patch,
          " is larger than the LR images (", h, " x ", w, ")");
  io::check_finite(lr_stack, "LR stack");
  io::check_finite(gt_stack, "GT stack");

  int64_t nval = o.val_count;
  if (nval < 0) nval = n == 1 ? 0 : std::clamp<int64_t>(n / 8, 1, 16);
  require(nval < n, "SISR training: ", nval, " validation images leave none of the ", n,
          " for training");
  n_train_ = n - nval;
  for (int64_t i = 0; i < n; ++i) {
    lr_.push_back(io::min_max(raw::select(lr_stack, 0, i)));
    gt_.push_back(io::divide_by_max(raw::select(gt_stack, 0, i)));
  }

  net_ = std::make_unique<SISR>(o.net, gen_);
  net_->to(o.device);
  net_->train();
  adam_ = std::make_unique<Adam>(net_->named_parameters(),
                                 AdamOptions{.lr = o.lr, .beta1 = o.beta1, .beta2 = o.beta2});
  total_ = o.steps;
  schedule_ = make_schedule(o.schedule, o.lr, total_);
}

std::map<std::string, std::string> SisrTrainer::checkpoint_metadata() const {
  auto meta = sisr_metadata(opt_.net);
  meta["train.seed"] = std::to_string(opt_.seed);
  meta["train.steps"] = std::to_string(total_);
  meta["train.batch"] = std::to_string(opt_.batch);
  meta["train.patch"] = std::to_string(opt_.patch);
  meta["train.base_lr"] = str(opt_.lr);
  meta["train.schedule"] = schedule_->describe();
  meta["train.best_val_psnr"] = std::isfinite(best_psnr_) ? str(best_psnr_) : "none";
  meta["train.best_step"] = std::to_string(best_step_);
  return meta;
}

void SisrTrainer::resume(const std::string& path) {
  // The configuration is compared first (one extra read of a small file) for a message that
  // names the setting rather than the first tensor whose shape differs.
  SisrConfig saved = opt_.net;
  if (sisr_config_from_metadata(io::read_safetensors(path).metadata, saved)) {
    auto a = sisr_metadata(saved), b = sisr_metadata(opt_.net);
    a.erase("dropout");  // a training choice, not part of the weights
    for (const auto& [k, v] : a)
      require(b.at(k) == v, "resume: '", path, "' was trained with ", k, " = ", v,
              ", this run has ", k, " = ", b.at(k));
  }
  const CheckpointInfo info = load_checkpoint(path, *net_, adam_.get());
  require(info.step < opt_.steps, "resume: '", path, "' is already at step ", info.step,
          ", nothing to do for a run of ", opt_.steps, " steps (raise --steps to continue)");
  step_ = info.step;
  last_checkpoint_step_ = info.step;
  auto it = info.metadata.find("train.best_val_psnr");
  if (it != info.metadata.end() && it->second != "none")
    best_psnr_ = std::strtod(it->second.c_str(), nullptr);
  it = info.metadata.find("train.best_step");
  if (it != info.metadata.end()) best_step_ = std::strtoll(it->second.c_str(), nullptr, 10);
}

void SisrTrainer::make_batch(int64_t t, Tensor& x, Tensor& y) const {
  const int64_t B = opt_.batch, p = opt_.patch, f = opt_.net.scale, P = f * p;
  x = Tensor::empty({B, 1, p, p});
  y = Tensor::empty({B, 1, P, P});
  Generator g(opt_.seed ^ kDataStream);
  g.set_offset(uint64_t(t) << kBatchShift);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = g.randint(0, n_train_);
    const Tensor& lr = lr_[i];
    const int64_t h = lr.size(0), w = lr.size(1);
    const int64_t y0 = g.randint(0, h - p + 1), x0 = g.randint(0, w - p + 1);
    const int code = static_cast<int>(g.randint(0, 8));
    crop_dihedral(lr.data<float>(), w, y0, x0, p, code, x.data<float>() + b * p * p);
    crop_dihedral(gt_[i].data<float>(), f * w, f * y0, f * x0, P, code,
                  y.data<float>() + b * P * P);
  }
}

double SisrTrainer::validate() {
  if (val_count() == 0) return kNaN;
  double acc = 0;
  for (size_t i = n_train_; i < lr_.size(); ++i)
    acc += metrics::psnr(sisr_infer(*net_, lr_[i], /*normalise=*/false), gt_[i]);
  return acc / static_cast<double>(val_count());
}

void SisrTrainer::check_parameters_finite(int64_t t) const {
  for (const auto& [name, p] : net_->named_parameters()) {
    const Tensor host = p.to(Device::cpu());
    const float* d = host.data<float>();
    for (int64_t k = 0; k < p.numel(); ++k)
      if (!std::isfinite(d[k]))
        ABBE_FAIL("training diverged at step ", t, ": parameter '", name,
                  "' is not finite; no checkpoint was written for this step");
  }
}

double SisrTrainer::loss_at_step(int64_t t) const {
  auto it = losses_.find(t);
  return it == losses_.end() ? kNaN : it->second;
}

TrainResult SisrTrainer::run(const TrainCallbacks& cb) {
  const auto t0 = Clock::now();
  TrainResult result;
  const int64_t start = step_;
  const bool budget = opt_.time_budget_s > 0;
  // Under a time budget the step count is an estimate, re-made from the measured speed, and
  // the schedule is followed by progress instead of by step: the lr of step t is the
  // schedule's (built for options.steps) at position p * options.steps, p in [0, 1], and each
  // step moves p by (1 - p) / (estimated steps left). So the lr falls smoothly and monotonically
  // to the schedule's end at the budget's end however the speed changes, and never restarts.
  double progress = double(start) / double(opt_.steps);
  int64_t check_step = start;  // the last speed check
  double check_time = 0, next_check = 0;
  bool planned = false;  // a step count has been estimated
  auto last_report = t0;
  int64_t last_report_step = start;
  double rate = 0;

  auto do_validation = [&](int64_t t) {
    if (val_count() == 0) return;
    const double psnr = validate();
    const bool improved = psnr > best_psnr_;
    if (improved) {
      best_psnr_ = psnr, best_step_ = t;
      if (!opt_.best_path.empty()) {
        save_checkpoint(opt_.best_path, *net_, nullptr, t, checkpoint_metadata());
        if (cb.on_checkpoint) cb.on_checkpoint(opt_.best_path, t);
      }
    }
    if (cb.on_validation) cb.on_validation({t, psnr, best_psnr_, improved});
  };
  auto do_checkpoint = [&](int64_t t) {
    if (opt_.checkpoint_path.empty()) return;
    check_parameters_finite(t);
    save_checkpoint(opt_.checkpoint_path, *net_, adam_.get(), t, checkpoint_metadata());
    last_checkpoint_step_ = t;
    if (cb.on_checkpoint) cb.on_checkpoint(opt_.checkpoint_path, t);
  };

  net_->train();
  Tensor x, y;
  while (step_ < opt_.steps) {
    const int64_t t = step_ + 1;  // the step being taken, counted from 1
    make_batch(t - 1, x, y);
    x = x.to(opt_.device), y = y.to(opt_.device);
    gen_.set_offset(uint64_t(t) << kDropoutShift);
    const double lr = budget ? schedule_->lr_at(static_cast<int64_t>(progress * double(opt_.steps)))
                             : schedule_->lr_at(t - 1);
    adam_->set_lr(lr);
    Tensor loss = l1_loss(net_->forward(x), y);
    const double lv = loss.item();
    if (!std::isfinite(lv)) {
      const std::string where = last_checkpoint_step_ >= 0 && !opt_.checkpoint_path.empty()
                                    ? "the last good checkpoint is '" + opt_.checkpoint_path +
                                          "' (step " + std::to_string(last_checkpoint_step_) + ")"
                                    : std::string("no checkpoint was written");
      ABBE_FAIL("training diverged: the loss is ", lv, " at step ", t, " (learning rate ", str(lr),
                "); ", where);
    }
    adam_->zero_grad();
    loss.backward();
    adam_->step();
    step_ = t;
    losses_[t] = lv;
    result.final_loss = lv;

    const double elapsed = seconds_since(t0);
    if (t - start >= 1) rate = double(t - start) / std::max(elapsed, 1e-9);
    if (budget && t == start + 1) {
      check_step = t, check_time = elapsed;  // the first step (warm-up) is not a fair sample
      next_check = elapsed + std::min(2.0, 0.02 * opt_.time_budget_s);
    } else if (budget && (elapsed >= next_check || t >= total_)) {
      // Speed since the last check (validation and checkpoints included); 3% of the budget is
      // kept for the final validation and checkpoint. Checked every tenth of the budget.
      const double recent = double(t - check_step) / std::max(elapsed - check_time, 1e-9);
      const double left = 0.97 * opt_.time_budget_s - elapsed;
      const int64_t fit = t + static_cast<int64_t>(std::max(0.0, left * recent));
      total_ = std::min(std::max(fit, t + 1), opt_.steps);
      check_step = t, check_time = elapsed, next_check = elapsed + 0.1 * opt_.time_budget_s;
      planned = true;
    }
    if (budget) progress += (1 - progress) / double(std::max<int64_t>(1, total_ - t + 1));
    const bool last =
        budget ? t == opt_.steps || elapsed >= 0.97 * opt_.time_budget_s : t == total_;
    if (last) total_ = t;
    if (cb.on_step) {
      const double window = seconds_since(last_report);
      StepReport r{t, budget && !planned && !last ? 0 : total_, lv, lr, rate, elapsed};
      if (window > 0.5) {  // a recent rate, so a slowdown shows
        r.steps_per_s = double(t - last_report_step) / window;
        last_report = Clock::now(), last_report_step = t;
      }
      cb.on_step(r);
    }
    if (opt_.val_every > 0 && t % opt_.val_every == 0 && !last) do_validation(t);
    if (opt_.checkpoint_every > 0 && t % opt_.checkpoint_every == 0 && !last) do_checkpoint(t);
    if (last) break;
  }
  do_validation(step_);
  do_checkpoint(step_);
  result.steps = step_;
  result.best_val_psnr = val_count() ? best_psnr_ : kNaN;
  result.best_step = best_step_;
  result.seconds = seconds_since(t0);
  return result;
}

Tensor sisr_infer(SISR& net, const Tensor& lr_frame, bool normalise) {
  require(lr_frame.defined() && lr_frame.dim() == 2, "SISR inference: a frame must be (h,w), got ",
          lr_frame.defined() ? describe(lr_frame) : std::string("nothing"));
  const Device device = net.named_parameters().front().second.device();
  const Tensor x = (normalise ? io::min_max(lr_frame) : lr_frame.to(DType::f32).contiguous()).to(device);
  const int64_t h = x.size(0), w = x.size(1), f = net.config().scale;
  autograd::NoGradGuard no_grad;
  const bool was_training = net.is_training();
  net.eval();
  Tensor out;
  try {
    out = net.forward(raw::reshape(x, {1, 1, h, w}));
  } catch (...) {
    net.train(was_training);
    throw;
  }
  net.train(was_training);
  return raw::reshape(narrow(out, 1, 0, 1).contiguous(), {f * h, f * w}).to(Device::cpu());
}

}  // namespace abbe::train
