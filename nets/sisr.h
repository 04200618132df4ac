#pragma once
// The SISR counterpart of DPA-TISR (this header is its spec; seed 000 Methods: "excluding all DPA
// blocks while keeping ... the feature extraction module and reconstruction module identical"):
//
//   x (N,1,H,W) -> feat_extract = ResBlocksWithInputConv(1, c, n_extract)
//               -> reconstruction = ResBlocksWithInputConv(c, c, n_recon)
//               -> upsamplemodule = PixelShufflePack(c, c, f) -> LeakyReLU(0.1)
//               -> conv_hr 3x3 c->c -> LeakyReLU(0.1) -> conv_last 3x3 c->C
//   mu = out[:, 0] + bilinear_upsample(x, f, align_corners=False)     (N,1,fH,fW)
//   Bayesian (C = 2): b = sigmoid(out[:, 1]); output cat[mu, b]       (N,2,fH,fW)
//
// Parameter names match DPA-TISR's modules of the same role, so weights move between them.
#include "layers/pixel_shuffle.h"
#include "layers/resblock.h"

namespace abbe {

struct SisrConfig {
  int scale = 2;
  int64_t channels = 64;
  int n_extract = 3;
  int n_recon = 5;
  bool bayesian = false;
  double dropout = 0.5;
};

class SISR : public Module {
 public:
  explicit SISR(const SisrConfig& cfg, Generator& gen = default_generator());
  // x (N,1,H,W) -> (N,C,fH,fW), C = 1 (plain) or 2 (Bayesian: mu, b).
  Tensor forward(const Tensor& x);
  const SisrConfig& config() const { return cfg_; }

 private:
  SisrConfig cfg_;
  std::shared_ptr<ResBlocksWithInputConv> feat_extract_, reconstruction_;
  std::shared_ptr<PixelShufflePack> upsample_;
  std::shared_ptr<Conv2d> conv_hr_, conv_last_;
};

}  // namespace abbe
