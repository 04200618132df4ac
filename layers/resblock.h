#pragma once
// DPA-TISR's residual blocks (../shared/specs/dpa_tisr.md, "Building blocks"):
//   ResBlock(c):  x + conv2(dropout(relu(conv1(x))))   3x3 c->c convs with bias, Dropout(p)
//                 init: Kaiming-normal (fan_in) x 0.1, bias 0
//   ResBlocksWithInputConv(in, c, n): main = [conv3x3 in->c, LeakyReLU(0.1), Sequential(n x ResBlock)]
// Parameter names: conv1.*, conv2.*; main.0.*, main.2.{j}.conv{1,2}.*
#include "layers/activation.h"
#include "layers/conv.h"

namespace abbe {

class ResBlock : public UnaryModule {
 public:
  explicit ResBlock(int64_t channels = 64, double dropout_p = 0.5, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override;

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<Dropout> dropout_;
};

class ResBlocksWithInputConv : public UnaryModule {
 public:
  ResBlocksWithInputConv(int64_t in_channels, int64_t channels, int num_blocks,
                         double dropout_p = 0.5, Generator& gen = default_generator());
  Tensor forward(const Tensor& x) override { return main_->forward(x); }

 private:
  std::shared_ptr<Sequential> main_;
};

}  // namespace abbe
