#pragma once
// Conv2d and ConvTranspose2d modules (parameters "weight", "bias" as in torch.nn).
#include "layers/module.h"

namespace abbe {

struct Conv2dConfig {
  int64_t in_channels, out_channels;
  int kernel_size = 3, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

class Conv2d : public UnaryModule {
 public:
  explicit Conv2d(const Conv2dConfig& cfg, Generator& gen = default_generator());
  // The usual 3x3 / pad 1 / bias conv.
  static std::shared_ptr<Conv2d> same(int64_t in, int64_t out, int k = 3,
                                      Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  const Conv2dConfig& config() const { return cfg_; }
  Tensor weight, bias;  // (out, in/groups, k, k), (out)

 private:
  Conv2dConfig cfg_;
};

struct ConvTranspose2dConfig {
  int64_t in_channels, out_channels;
  int kernel_size = 3, stride = 1, padding = 0, output_padding = 0, dilation = 1, groups = 1;
  bool bias = true;
};

class ConvTranspose2d : public UnaryModule {
 public:
  explicit ConvTranspose2d(const ConvTranspose2dConfig& cfg, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;
  Tensor weight, bias;  // (in, out/groups, k, k), (out)

 private:
  ConvTranspose2dConfig cfg_;
};

}  // namespace abbe
