#include "layers/pixel_shuffle.h"

#include "layers/init.h"

namespace abbe {

PixelShufflePack::PixelShufflePack(int64_t in, int64_t out, int factor, int k, Generator& gen)
    : factor_(factor) {
  ABBE_CHECK(factor >= 1, "PixelShufflePack: factor must be >= 1, got ", factor);
  upsample_conv_ = register_module("upsample_conv", Conv2d::same(in, out * factor * factor, k, gen));
  init::kaiming_normal_(upsample_conv_->weight, 1.0, gen);
  upsample_conv_->bias.zero_();
}

}  // namespace abbe
