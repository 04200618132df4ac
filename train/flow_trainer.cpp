#include "train/flow_trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "autograd/node.h"
#include "data/normalize.h"
#include "data/simulate_tisr.h"
#include "data/safetensors.h"
#include "data/tiff.h"
#include "graph/views.h"
#include "train/augment.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace abbe::train {
namespace {

constexpr int kBatchShift = 20;
constexpr uint64_t kDataStream = 0xC2B2AE3D27D4EB4Full;  // xor'ed into the seed

}  // namespace

FlowPairs load_flow_pairs(const std::string& dir) {
  const std::vector<std::string> seqs = data::sequence_dirs(dir, "flow data");
  FlowPairs out;
  for (const std::string& s : seqs) {
    const Tensor lr = io::read_tiff(s + "/lr.tif");
    const Tensor flow = io::read_tiff(s + "/flow.tif");
    io::check_finite(lr, s + "/lr.tif");
    io::check_finite(flow, s + "/flow.tif");
    const int64_t T = lr.size(0), h = lr.size(1), w = lr.size(2);
    if (T < 2) continue;  // no pair in a one-frame sequence
    if (flow.shape() != Shape({2 * (T - 1), h, w}))
      ABBE_FAIL(s, "/flow.tif: expected ", 2 * (T - 1), " pages of ", h, " x ", w, " for ", T,
                " frames, got ", flow.shape());
    for (int64_t t = 0; t + 1 < T; ++t) {
      // Both frames of a pair normalised together, so brightness stays comparable.
      const Tensor pair = io::min_max(raw::narrow(lr, 0, t, 2));
      out.ref.push_back(raw::select(pair, 0, 0).contiguous());
      out.supp.push_back(raw::select(pair, 0, 1).contiguous());
      out.flow.push_back(raw::narrow(flow, 0, 2 * t, 2).contiguous());
      out.sequence.push_back(out.sequences);
    }
    ++out.sequences;
  }
  if (out.ref.empty()) ABBE_FAIL("flow data: '", dir, "' has no sequence of 2 or more frames");
  return out;
}

Tensor end_point_error(const Tensor& flow, const Tensor& truth) {
  const Tensor d = square(sub(flow, truth));                     // (N, 2, H, W)
  const Tensor norm2 = sum(d, {1}, /*keepdim=*/false);            // (N, H, W)
  return mean(sqrt(add_scalar(norm2, 1e-12)));
}

FlowTrainer::FlowTrainer(const FlowTrainOptions& options, FlowPairs pairs)
    : opt_(options), pairs_(std::move(pairs)) {
  ABBE_CHECK(opt_.steps >= 1 && opt_.batch >= 1 && opt_.patch >= 8,
             "flow training: need steps >= 1, batch >= 1, patch >= 8");
  int64_t val = opt_.val_count >= 0 ? opt_.val_count : (pairs_.sequences >= 2 ? 1 : 0);
  ABBE_CHECK(val < pairs_.sequences, "flow training: ", val, " held-out sequences leave none of the ",
             pairs_.sequences, " to train on");
  for (size_t i = 0; i < pairs_.ref.size(); ++i) {
    (pairs_.sequence[i] >= pairs_.sequences - val ? val_ : train_).push_back(static_cast<int64_t>(i));
    const int64_t h = pairs_.ref[i].size(0), w = pairs_.ref[i].size(1);
    ABBE_CHECK(h >= opt_.patch && w >= opt_.patch, "flow training: patch ", opt_.patch,
               " is larger than a ", h, " x ", w, " frame");
  }
  net_ = std::make_unique<SpyNet>();
  net_->to(opt_.device);
}

void FlowTrainer::make_batch(int64_t t, Tensor& ref, Tensor& supp, Tensor& flow) const {
  const int64_t B = opt_.batch, p = opt_.patch, pp = p * p;
  ref = Tensor::empty({B, 1, p, p}), supp = Tensor::empty({B, 1, p, p});
  flow = Tensor::empty({B, 2, p, p});
  Generator g(opt_.seed ^ kDataStream);
  g.set_offset(uint64_t(t) << kBatchShift);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i = train_[static_cast<size_t>(g.randint(0, static_cast<int64_t>(train_.size())))];
    const int64_t h = pairs_.ref[i].size(0), w = pairs_.ref[i].size(1);
    const int64_t y0 = g.randint(0, h - p + 1), x0 = g.randint(0, w - p + 1);
    const int code = static_cast<int>(g.randint(0, 8));
    crop_dihedral(pairs_.ref[i].data<float>(), w, y0, x0, p, code, ref.data<float>() + b * pp);
    crop_dihedral(pairs_.supp[i].data<float>(), w, y0, x0, p, code, supp.data<float>() + b * pp);
    // The field moves with the pixels; its vectors turn with them: a transpose swaps x and y, a
    // row flip negates y' (the output's y), a column flip negates x'.
    const float* fx = pairs_.flow[i].data<float>();
    const float* fy = fx + h * w;
    float* ox = flow.data<float>() + b * 2 * pp;
    float* oy = ox + pp;
    const bool transposed = code & 1;
    crop_dihedral(transposed ? fy : fx, w, y0, x0, p, code, ox);
    crop_dihedral(transposed ? fx : fy, w, y0, x0, p, code, oy);
    const float sx = (code & 4) ? -1.f : 1.f, sy = (code & 2) ? -1.f : 1.f;
    // Untransposed: x' = +-x (column flip), y' = +-y (row flip). Transposed: x' = +-y, where
    // the row flip reverses what became x', and y' = +-x by the column flip.
    const float ax = transposed ? sy : sx, ay = transposed ? sx : sy;
    for (int64_t k = 0; k < pp; ++k) ox[k] *= ax, oy[k] *= ay;
  }
}

void FlowTrainer::run(const std::function<void(const FlowStepReport&)>& on_step,
                      const std::function<void(int64_t, double)>& on_validation) {
  net_->train();
  Adam adam(net_->named_parameters(), AdamOptions{.lr = opt_.lr});
  const auto schedule = make_schedule(opt_.schedule, opt_.lr, opt_.steps);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t t = 1; t <= opt_.steps; ++t) {
    Tensor ref, supp, truth;
    make_batch(t, ref, supp, truth);
    adam.set_lr(schedule->lr_at(t - 1));
    adam.zero_grad();
    const Tensor loss =
        end_point_error(net_->forward(ref.to(opt_.device), supp.to(opt_.device)), truth.to(opt_.device));
    const double epe = loss.item();
    if (!std::isfinite(epe)) ABBE_FAIL("flow training diverged at step ", t, " (EPE ", epe, ")");
    loss.backward();
    adam.step();
    if (on_step) {
      const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      on_step({t, opt_.steps, epe, adam.lr(), double(t) / std::max(dt, 1e-9)});
    }
    if (on_validation && !val_.empty() &&
        ((opt_.val_every > 0 && t % opt_.val_every == 0) || t == opt_.steps))
      on_validation(t, validate());
  }
}

double FlowTrainer::validate() {
  if (val_.empty()) return std::numeric_limits<double>::quiet_NaN();
  autograd::NoGradGuard no_grad;
  const bool was_training = net_->is_training();
  net_->eval();
  double acc = 0;
  for (int64_t i : val_) {
    const int64_t h = pairs_.ref[i].size(0), w = pairs_.ref[i].size(1);
    const Tensor est = net_->forward(raw::reshape(pairs_.ref[i], {1, 1, h, w}).to(opt_.device),
                                     raw::reshape(pairs_.supp[i], {1, 1, h, w}).to(opt_.device));
    acc += end_point_error(est, raw::reshape(pairs_.flow[i], {1, 2, h, w}).to(opt_.device)).item();
  }
  net_->train(was_training);
  return acc / static_cast<double>(val_.size());
}

double FlowTrainer::zero_flow_epe() const {
  if (val_.empty()) return std::numeric_limits<double>::quiet_NaN();
  autograd::NoGradGuard no_grad;
  double acc = 0;
  for (int64_t i : val_) {
    const Tensor f = raw::reshape(pairs_.flow[i], {1, 2, pairs_.flow[i].size(1), pairs_.flow[i].size(2)});
    acc += end_point_error(Tensor::zeros(f.shape()), f).item();
  }
  return acc / static_cast<double>(val_.size());
}

void FlowTrainer::save(const std::string& path) const {
  NamedTensors named;
  for (const auto& [name, t] : net_->state_dict()) named.push_back({"spynet." + name, t.to(Device::cpu())});
  io::write_safetensors(path, named, {{"net", "spynet"}, {"format", "abbe weights"}});
}

}  // namespace abbe::train
