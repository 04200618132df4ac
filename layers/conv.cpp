#include "layers/conv.h"

#include "layers/init.h"

namespace abbe {

Conv2d::Conv2d(const Conv2dConfig& cfg, Generator& gen) : cfg_(cfg) {
  ABBE_CHECK(cfg.in_channels > 0 && cfg.out_channels > 0 && cfg.groups > 0 &&
                 cfg.in_channels % cfg.groups == 0 && cfg.out_channels % cfg.groups == 0,
             "Conv2d: channels ", cfg.in_channels, "->", cfg.out_channels,
             " must be positive and divisible by groups=", cfg.groups);
  Tensor w = Tensor::empty({cfg.out_channels, cfg.in_channels / cfg.groups, cfg.kernel_size, cfg.kernel_size});
  Tensor b = cfg.bias ? Tensor::empty({cfg.out_channels}) : Tensor();
  init::conv_default_(w, b, gen);
  weight = register_parameter("weight", w);
  if (cfg.bias) bias = register_parameter("bias", b);
}

std::shared_ptr<Conv2d> Conv2d::same(int64_t in, int64_t out, int k, Generator& gen) {
  return std::make_shared<Conv2d>(Conv2dConfig{in, out, k, 1, k / 2}, gen);
}

Tensor Conv2d::forward(const Tensor& x) {
  Conv2dOptions o;
  o.stride(cfg_.stride).padding(cfg_.padding).dilation(cfg_.dilation).group(cfg_.groups);
  return conv2d(x, weight, bias, o);
}

ConvTranspose2d::ConvTranspose2d(const ConvTranspose2dConfig& cfg, Generator& gen) : cfg_(cfg) {
  ABBE_CHECK(cfg.in_channels > 0 && cfg.out_channels > 0 && cfg.groups > 0 &&
                 cfg.in_channels % cfg.groups == 0 && cfg.out_channels % cfg.groups == 0,
             "ConvTranspose2d: channels ", cfg.in_channels, "->", cfg.out_channels,
             " must be positive and divisible by groups=", cfg.groups);
  Tensor w = Tensor::empty({cfg.in_channels, cfg.out_channels / cfg.groups, cfg.kernel_size, cfg.kernel_size});
  Tensor b = cfg.bias ? Tensor::empty({cfg.out_channels}) : Tensor();
  init::conv_default_(w, b, gen);
  weight = register_parameter("weight", w);
  if (cfg.bias) bias = register_parameter("bias", b);
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  ConvTranspose2dOptions o;
  o.stride_h = o.stride_w = cfg_.stride;
  o.pad_h = o.pad_w = cfg_.padding;
  o.out_pad_h = o.out_pad_w = cfg_.output_padding;
  o.dil_h = o.dil_w = cfg_.dilation;
  o.groups = cfg_.groups;
  return conv_transpose2d(x, weight, bias, o);
}

}  // namespace abbe
