#include "autograd/constants.h"

#include <map>
#include <tuple>

namespace abbe::autograd {

const Tensor& cached_constant(const std::string& key, const Shape& shape, DType dtype, Device device,
                              const std::function<std::vector<double>()>& make) {
  thread_local std::map<std::tuple<std::string, DType, DeviceType, int>, Tensor> cache;
  const auto k = std::make_tuple(key, dtype, device.type, device.index);
  auto it = cache.find(k);
  if (it == cache.end()) it = cache.emplace(k, Tensor::from_vector(make(), shape).to(dtype).to(device)).first;
  return it->second;
}

}  // namespace abbe::autograd
