#pragma once
// SPyNet pretraining on simulated movies with their true flow (`abbe simulate tisr`): the
// reference's pretrained SPyNet cannot be fetched, so abbe trains its own before DPA-TISR.
//
// Data: every DIR/seq_*/ with lr.tif (T, h, w) and flow.tif (2(T-1), h, w) gives T-1 pairs
// (frame t, frame t+1, flow t); both frames of a pair are min-max normalised together. The last
// `val_count` sequences are held out. A batch holds random aligned p x p crops of random pairs,
// each with one of the 8 flips/transposes, applied to the flow's field and to its vectors (a
// horizontal flip negates x, a transpose swaps x and y). SPyNet(ref = frame t, supp = frame t+1)
// estimates the flow with warp(supp, flow) ~ ref, the simulator's convention.
// Loss: the average end-point error, mean over pixels of |flow - true flow| (Euclidean, plus
// 1e-12 under the root so the gradient stays finite at 0). Adam + a schedule.
// Determinism: the batch of step t is a function of (seed, t) only.
// Output: the SpyNet's weights named as inside DPA-TISR ("spynet.<name>"), so
// train::load_weights(path, dpa_tisr, strict = false) puts them in place.
#include <functional>
#include <string>
#include <vector>

#include "graph/tensor.h"
#include "nets/dpa_tisr.h"

namespace abbe::train {

struct FlowPairs {
  std::vector<Tensor> ref, supp, flow;  // (h, w), (h, w), (2, h, w) float32
  std::vector<int64_t> sequence;        // which sequence each pair came from
  int64_t sequences = 0;
};

// Reads every seq_*/ directory under dir (sorted by name). Throws abbe::Error naming the file when
// one is missing, a flow stack does not match its frames, or a value is not finite.
FlowPairs load_flow_pairs(const std::string& dir);

struct FlowTrainOptions {
  int64_t steps = 500, batch = 8, patch = 64;
  double lr = 1e-4;
  std::string schedule = "cosine";
  uint64_t seed = 0;
  int64_t val_count = -1;   // held-out sequences; -1: 1 when there are >= 2, else 0
  int64_t val_every = 100;  // 0: only at the end
  Device device = Device::cpu();
};

struct FlowStepReport {
  int64_t step = 0, total = 0;
  double epe = 0, lr = 0, steps_per_s = 0;
};

class FlowTrainer {
 public:
  FlowTrainer(const FlowTrainOptions& options, FlowPairs pairs);
  // Trains options.steps steps; on_step after each, on_validation(step, epe) at validations.
  void run(const std::function<void(const FlowStepReport&)>& on_step = {},
           const std::function<void(int64_t, double)>& on_validation = {});
  // Mean end-point error over the held-out pairs, whole frames (NaN when none are held out).
  double validate();
  // The mean EPE of the zero flow on the held-out pairs: what "no motion" scores.
  double zero_flow_epe() const;
  SpyNet& model() { return *net_; }
  // Writes the weights as "spynet.<name>" (safetensors, atomic).
  void save(const std::string& path) const;
  // The batch of step t: ref, supp (B, 1, p, p), flow (B, 2, p, p) (public for the tests).
  void make_batch(int64_t t, Tensor& ref, Tensor& supp, Tensor& flow) const;

 private:
  FlowTrainOptions opt_;
  FlowPairs pairs_;
  std::vector<int64_t> train_, val_;  // pair indices
  std::unique_ptr<SpyNet> net_;
};

// End-point error of flow (N, 2, H, W) against truth, averaged over N H W.
Tensor end_point_error(const Tensor& flow, const Tensor& truth);

}  // namespace abbe::train
