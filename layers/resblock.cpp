#include "layers/resblock.h"

#include "layers/init.h"

namespace abbe {

ResBlock::ResBlock(int64_t c, double dropout_p, Generator& gen) {
  conv1_ = register_module("conv1", Conv2d::same(c, c, 3, gen));
  conv2_ = register_module("conv2", Conv2d::same(c, c, 3, gen));
  for (auto* conv : {conv1_.get(), conv2_.get()}) {
    init::kaiming_normal_(conv->weight, 0.1, gen);
    conv->bias.zero_();
  }
  dropout_ = register_module("dropout", std::make_shared<Dropout>(dropout_p, gen));
}

Tensor ResBlock::forward(const Tensor& x) {
  return add(x, conv2_->forward(dropout_->forward(relu(conv1_->forward(x)))));
}

ResBlocksWithInputConv::ResBlocksWithInputConv(int64_t in, int64_t c, int n, double dropout_p,
                                               Generator& gen) {
  ABBE_CHECK(n >= 0, "ResBlocksWithInputConv: negative block count ", n);
  main_ = register_module("main", std::make_shared<Sequential>());
  main_->push_back(Conv2d::same(in, c, 3, gen));
  main_->push_back(std::make_shared<LeakyReLU>(0.1));
  auto blocks = std::make_shared<Sequential>();
  for (int i = 0; i < n; ++i) blocks->push_back(std::make_shared<ResBlock>(c, dropout_p, gen));
  main_->push_back(blocks);
}

}  // namespace abbe
