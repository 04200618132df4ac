#pragma once
// Training and inference of the SISR net (nets/sisr.h) on a pair of image stacks:
//   LR (n,h,w) camera frames and GT (n,fh,fw) ground truth, f = the net's scale.
//
// Data (../shared/specs/dpa_tisr.md, "Training and data"): each LR image is min-max normalised
// over the image, each GT image divided by its max. The last `val_count` images are held out
// for validation; training batches are random aligned crops (LR p x p at (y, x), GT fp x fp at
// (fy, fx)) with one of the 8 flips/rotations shared by the pair. Loss: L1 on the output
// (N,1,fp,fp). Optimiser: Adam with a schedule (train/schedule.h), stepped once per batch.
//
// Determinism: the batch of step t and the dropout masks of step t are functions of (seed, t)
// only (counter ranges of their own), so a run resumed from a checkpoint at step k repeats the
// uninterrupted run's steps k+1... exactly. (A time budget, which sets the step count from the
// measured speed, is the one thing that is not reproducible.)
//
// Checkpoints (train/checkpoint.h) carry the net's configuration in their metadata
// (sisr_metadata) so `abbe infer` can rebuild the net from the file alone. Nothing here prints:
// progress is reported through TrainCallbacks.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/rng.h"
#include "nets/sisr.h"
#include "train/optimizer.h"
#include "train/schedule.h"

namespace abbe::train {

struct SisrTrainOptions {
  // The net. Dropout defaults to 0 here (the reference uses 0.5 in every ResBlock even for the
  // plain model): with few minutes of CPU training it only slows convergence.
  SisrConfig net{
      .scale = 2, .channels = 32, .n_extract = 2, .n_recon = 2, .bayesian = false, .dropout = 0.0};
  int64_t steps = 1000;  // total optimiser steps of the run (resumed runs count from 0 too)
  int64_t batch = 16;
  int64_t patch = 32;  // LR patch side; the GT patch is scale * patch
  // Adam at 1e-3 (the reference uses 5e-5 over days of GPU time; a small net on CPU for minutes
  // needs the larger step), annealed by a cosine to 0 over the run.
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999;
  std::string schedule = "cosine";  // make_schedule's spec
  uint64_t seed = 0;
  int64_t val_count = -1;   // last images held out; -1: n/8 clamped to [1, 16] (0 when n == 1)
  int64_t val_every = 100;  // validation period in steps (0: only at the end)
  int64_t checkpoint_every = 500;  // periodic checkpoint (0: only at the end)
  std::string checkpoint_path;     // "": no checkpoints (in-process use)
  std::string best_path;           // weights with the best validation PSNR; "": not written
  // > 0: stop after this many seconds (3% kept for the final validation and checkpoint), with
  // `steps` as an upper bound. The step count is estimated from the measured speed and the
  // schedule followed by progress through the budget, so the lr still anneals to its end.
  double time_budget_s = 0;
  // Where the net trains; batches are cut on the CPU and uploaded.
  Device device = Device::cpu();
};

struct StepReport {
  // step counts from 1. Under a time budget total is an estimate that changes with the speed,
  // and 0 (unknown) until the first estimate.
  int64_t step = 0, total = 0;
  double loss = 0, lr = 0, steps_per_s = 0, elapsed_s = 0;
};
struct ValidationReport {
  int64_t step = 0;
  double psnr = 0, best_psnr = 0;  // mean over the held-out images, dB (peak 1)
  bool improved = false;
};
struct TrainCallbacks {
  std::function<void(const StepReport&)> on_step;
  std::function<void(const ValidationReport&)> on_validation;
  std::function<void(const std::string& path, int64_t step)> on_checkpoint;
};

struct TrainResult {
  int64_t steps = 0;         // the last step done
  double final_loss = 0;     // loss of the last step
  double best_val_psnr = 0;  // NaN when nothing was held out
  int64_t best_step = 0;
  double seconds = 0;  // wall time of this run() call
};

class SisrTrainer {
 public:
  // lr_stack (n,h,w), gt_stack (n,fh,fw), float32 or float64, finite. Throws abbe::Error naming
  // the problem (shapes that disagree, a patch larger than the images, bad options).
  SisrTrainer(const SisrTrainOptions& options, const Tensor& lr_stack, const Tensor& gt_stack);
  SisrTrainer(const SisrTrainer&) = delete;
  SisrTrainer& operator=(const SisrTrainer&) = delete;

  // Restores model, optimiser, step and best PSNR from a checkpoint this trainer wrote. Its net
  // configuration must equal ours, and its step must be below options.steps.
  void resume(const std::string& checkpoint);
  // Trains from the current step to options.steps (or the time budget), validating and
  // checkpointing as configured. A non-finite loss throws abbe::Error naming the step and the
  // last good checkpoint (which is left as it was).
  TrainResult run(const TrainCallbacks& callbacks = {});
  // Mean PSNR of the net on the held-out images (NaN when there are none).
  double validate();

  SISR& model() { return *net_; }
  int64_t step() const { return step_; }
  int64_t total_steps() const { return total_; }
  int64_t train_count() const { return n_train_; }
  int64_t val_count() const { return static_cast<int64_t>(lr_.size()) - n_train_; }
  double loss_at_step(int64_t step) const;  // of this run's steps (NaN if not run here)

 private:
  // The batch of step t: x (B,1,p,p), y (B,1,fp,fp).
  void make_batch(int64_t t, Tensor& x, Tensor& y) const;
  std::map<std::string, std::string> checkpoint_metadata() const;
  void check_parameters_finite(int64_t t) const;

  SisrTrainOptions opt_;
  std::vector<Tensor> lr_, gt_;  // normalised images, (h,w) and (fh,fw)
  int64_t n_train_ = 0;
  Generator gen_;  // weight init, then dropout; declared before net_, which points to it
  std::unique_ptr<SISR> net_;
  std::unique_ptr<Adam> adam_;
  std::unique_ptr<LRSchedule> schedule_;
  int64_t step_ = 0, total_ = 0;
  double best_psnr_;
  int64_t best_step_ = 0, last_checkpoint_step_ = -1;
  std::map<int64_t, double> losses_;
};

// The net's configuration as checkpoint metadata {"net": "sisr", "scale": "2", ...}, and back.
// sisr_config_from_metadata returns false (cfg untouched) when the file has no "net" entry and
// throws when it names another net or holds a malformed value.
std::map<std::string, std::string> sisr_metadata(const SisrConfig& cfg);
bool sisr_config_from_metadata(const std::map<std::string, std::string>& meta, SisrConfig& cfg);

// One frame through the net with no tape: lr_frame (h,w) -> (fh,fw) float32 (the mean channel
// of a Bayesian net). normalise: min-max the frame first (as in training); otherwise the values
// go in as they are. The net runs in eval mode; its train/eval mode is restored afterwards.
// Full frame, no tiling. Runs on the net's device; the result is on the CPU.
Tensor sisr_infer(SISR& net, const Tensor& lr_frame, bool normalise = true);

}  // namespace abbe::train
