#pragma once
// PixelShufflePack (BasicVSR's upsampler): upsample_conv 3x3 in -> out*f^2, then pixel_shuffle(f).
// Parameter names: upsample_conv.{weight,bias}. Init: Kaiming-normal (fan_in), bias 0.
#include "layers/conv.h"

namespace abbe {

class PixelShufflePack : public UnaryModule {
 public:
  PixelShufflePack(int64_t in_channels, int64_t out_channels, int factor, int kernel_size = 3,
                   Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override {
    return pixel_shuffle(upsample_conv_->forward(x), factor_);
  }

 private:
  std::shared_ptr<Conv2d> upsample_conv_;
  int factor_;
};

}  // namespace abbe
