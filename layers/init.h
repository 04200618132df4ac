#pragma once
// Weight initialisers with PyTorch's formulas, drawing from abbe's counter-based generator.
#include "graph/rng.h"
#include "graph/tensor.h"

namespace abbe::init {

// fan_in of a conv weight (K, C/G, R, S) or linear (out, in): size(1) * receptive field.
int64_t fan_in(const Tensor& w);
// U(-b, b) in place.
void uniform_(Tensor& t, double bound, Generator& gen);
// N(0, std) in place.
void normal_(Tensor& t, double stddev, Generator& gen);
// torch.nn.init.kaiming_normal_(mode='fan_in', a=0) then * scale (BasicVSR's default_init_weights).
void kaiming_normal_(Tensor& w, double scale, Generator& gen);
// The default of torch.nn.Conv2d.reset_parameters: weight and bias U(+-1/sqrt(fan_in)).
void conv_default_(Tensor& w, Tensor& b, Generator& gen);

}  // namespace abbe::init
