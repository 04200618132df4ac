#include "train/augment.h"

namespace abbe::train {

void crop_dihedral(const float* img, int64_t W, int64_t y0, int64_t x0, int64_t p, int code, float* out) {
  for (int64_t y = 0; y < p; ++y)
    for (int64_t x = 0; x < p; ++x) {
      int64_t sy = (code & 1) ? x : y, sx = (code & 1) ? y : x;
      if (code & 2) sy = p - 1 - sy;
      if (code & 4) sx = p - 1 - sx;
      out[y * p + x] = img[(y0 + sy) * W + x0 + sx];
    }
}

}  // namespace abbe::train
