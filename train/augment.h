#pragma once
// Aligned random crops under the 8 symmetries of the square, shared by the trainers.
#include <cstdint>

namespace abbe::train {

// Copies a p x p window at (y0, x0) of img (H,W) into out (p,p) under one of the 8 symmetries
// of the square: bit 0 transposes, bit 1 flips rows, bit 2 flips columns. The same code on the
// LR window and on the matching GT window (f y0, f x0, side f p) keeps the pair aligned.
void crop_dihedral(const float* img, int64_t W, int64_t y0, int64_t x0, int64_t p, int code, float* out);

}  // namespace abbe::train
