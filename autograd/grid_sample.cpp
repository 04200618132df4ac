// grid_sample (PyTorch's F.grid_sample, bilinear) and flow_warp composed from it.
#include "autograd/constants.h"
#include "autograd/ops.h"
#include "graph/dispatch.h"
#include "kernels/cpu/grid_sample.h"
#include "kernels/cuda/grid_sample.h"

namespace abbe {

Tensor grid_sample(const Tensor& x, const Tensor& grid, GridPadding padding, bool align_corners) {
  const Device dev = common_device(Op::grid_sample, {&x, &grid});
  ABBE_CHECK(x.dim() == 4, "grid_sample: input must be (N,C,H,W), got ", describe(x));
  ABBE_CHECK(grid.dim() == 4 && grid.size(3) == 2 && grid.size(0) == x.size(0),
             "grid_sample: grid must be (N,P,Q,2) with the input's N = ", x.size(0), ", got ", describe(grid));
  ABBE_CHECK(x.dtype() == grid.dtype(), "grid_sample: input ", x.dtype(), " vs grid ", grid.dtype());
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), P = grid.size(1), Q = grid.size(2);
  const auto kpad = padding == GridPadding::zeros ? kernels::cpu::GridPadding::zeros : kernels::cpu::GridPadding::border;
  Tensor xc = x.contiguous(), gc = grid.contiguous();
  Tensor y = Tensor::empty({N, C, P, Q}, x.dtype(), dev);
  if (y.numel() > 0) {
    dispatch_float(x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      ABBE_KERNEL(dev, grid_sample_forward<T>, N, C, H, W, P, Q, xc.data<T>(), gc.data<T>(), kpad, align_corners,
                  y.data<T>());
    });
  }
  const bool need_dx = x.requires_grad(), need_dgrid = grid.requires_grad();
  Tensor xd = xc.detach(), gd = gc.detach();
  return autograd::record("grid_sample", y, {x, grid}, [=](const Tensor& g) {
    Tensor dyc = g.contiguous();
    Tensor dx = need_dx ? Tensor::empty(xd.shape(), xd.dtype(), dev) : Tensor();
    Tensor dgrid = need_dgrid ? Tensor::empty(gd.shape(), gd.dtype(), dev) : Tensor();
    dispatch_float(xd.dtype(), [&](auto tag) {
      using T = decltype(tag);
      ABBE_KERNEL(dev, grid_sample_backward<T>, N, C, H, W, P, Q, xd.data<T>(), gd.data<T>(), kpad, align_corners,
                  dyc.data<T>(), need_dx ? dx.data<T>() : static_cast<T*>(nullptr),
                  need_dgrid ? dgrid.data<T>() : static_cast<T*>(nullptr));
    });
    return std::vector<Tensor>{dx, dgrid};
  });
}

Tensor flow_warp(const Tensor& x, const Tensor& flow, GridPadding padding, bool align_corners) {
  ABBE_CHECK(x.dim() == 4 && flow.dim() == 4 && flow.size(3) == 2 && flow.size(0) == x.size(0) &&
                 flow.size(1) == x.size(2) && flow.size(2) == x.size(3),
             "flow_warp: flow must be (N,H,W,2) matching the input (N,C,H,W) ", x.shape(), ", got ", describe(flow));
  const int64_t H = x.size(2), W = x.size(3);
  // The pixel grid (1,H,W,2) with (x, y) = (column, row), and per-coordinate scales to [-1, 1],
  // made once per size, dtype and device (autograd/constants.h).
  const Tensor& pixels =
      autograd::cached_constant(detail::concat("flow_warp.pixels.", H, "x", W), {1, H, W, 2}, flow.dtype(), flow.device(), [&] {
        std::vector<double> base(static_cast<size_t>(H * W * 2));
        for (int64_t i = 0; i < H; ++i)
          for (int64_t j = 0; j < W; ++j) base[2 * (i * W + j)] = double(j), base[2 * (i * W + j) + 1] = double(i);
        return base;
      });
  const Tensor& scale =
      autograd::cached_constant(detail::concat("flow_warp.scale.", H, "x", W), {2}, flow.dtype(), flow.device(), [&] {
        return std::vector<double>{2.0 / double(std::max<int64_t>(W - 1, 1)), 2.0 / double(std::max<int64_t>(H - 1, 1))};
      });
  const Tensor grid = add_scalar(mul(add(flow, pixels), scale), -1.0);
  return grid_sample(x, grid, padding, align_corners);
}

}  // namespace abbe
