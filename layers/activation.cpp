#include "layers/activation.h"

namespace abbe {

PReLU::PReLU(int64_t num_parameters, double init) {
  weight = register_parameter("weight", Tensor::full({num_parameters}, init));
}

}  // namespace abbe
