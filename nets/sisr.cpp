#include "nets/sisr.h"

namespace abbe {

SISR::SISR(const SisrConfig& cfg, Generator& gen) : cfg_(cfg) {
  ABBE_CHECK(cfg.scale >= 1 && cfg.scale <= 8, "SISR: scale must be 1..8, got ", cfg.scale);
  ABBE_CHECK(cfg.channels > 0 && cfg.n_extract >= 0 && cfg.n_recon >= 0,
             "SISR: channels and block counts must be positive");
  const int64_t c = cfg.channels;
  feat_extract_ = register_module(
      "feat_extract", std::make_shared<ResBlocksWithInputConv>(1, c, cfg.n_extract, cfg.dropout, gen));
  reconstruction_ = register_module(
      "reconstruction", std::make_shared<ResBlocksWithInputConv>(c, c, cfg.n_recon, cfg.dropout, gen));
  upsample_ = register_module("upsamplemodule", std::make_shared<PixelShufflePack>(c, c, cfg.scale, 3, gen));
  conv_hr_ = register_module("conv_hr", Conv2d::same(c, c, 3, gen));
  conv_last_ = register_module("conv_last", Conv2d::same(c, cfg.bayesian ? 2 : 1, 3, gen));
}

Tensor SISR::forward(const Tensor& x) {
  ABBE_CHECK(x.dim() == 4 && x.size(1) == 1, "SISR: input must be (N,1,H,W), got ", x.shape());
  Tensor h = reconstruction_->forward(feat_extract_->forward(x));
  h = leaky_relu(upsample_->forward(h), 0.1);
  h = leaky_relu(conv_hr_->forward(h), 0.1);
  Tensor out = conv_last_->forward(h);
  Tensor base = upsample_bilinear(x, cfg_.scale, /*align_corners=*/false);
  if (!cfg_.bayesian) return add(out, base);
  Tensor mu = add(narrow(out, 1, 0, 1), base);
  Tensor b = sigmoid(narrow(out, 1, 1, 1));
  return concat({mu, b}, 1);
}

}  // namespace abbe
