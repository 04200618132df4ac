#include "kernels/cpu/elementwise.h"

#include <cmath>
#include <vector>

namespace abbe::kernels::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // below this, threading costs more than it saves

template <typename T, typename F>
void map1(int64_t n, const T* x, T* y, F f) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}
template <typename T, typename F>
void map3(int64_t n, const T* x, const T* y, const T* dy, T* dx, F f) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) dx[i] = f(x[i], y[i], dy[i]);
}
}  // namespace

template <typename T>
void unary_forward(UnaryOp op, int64_t n, const T* x, T* y, T a) {
  switch (op) {
    case UnaryOp::neg: return map1(n, x, y, [](T v) { return -v; });
    case UnaryOp::exp: return map1(n, x, y, [](T v) { return std::exp(v); });
    case UnaryOp::log: return map1(n, x, y, [](T v) { return std::log(v); });
    case UnaryOp::abs: return map1(n, x, y, [](T v) { return std::abs(v); });
    case UnaryOp::sqrt: return map1(n, x, y, [](T v) { return std::sqrt(v); });
    case UnaryOp::square: return map1(n, x, y, [](T v) { return v * v; });
    case UnaryOp::relu: return map1(n, x, y, [](T v) { return v > 0 ? v : T(0); });
    case UnaryOp::leaky_relu: return map1(n, x, y, [a](T v) { return v > 0 ? v : v * a; });
    case UnaryOp::sigmoid: return map1(n, x, y, [](T v) { return T(1) / (T(1) + std::exp(-v)); });
    case UnaryOp::tanh: return map1(n, x, y, [](T v) { return std::tanh(v); });
    case UnaryOp::add_scalar: return map1(n, x, y, [a](T v) { return v + a; });
    case UnaryOp::mul_scalar: return map1(n, x, y, [a](T v) { return v * a; });
  }
}

template <typename T>
void unary_backward(UnaryOp op, int64_t n, const T* x, const T* y, const T* dy, T* dx, T a) {
  switch (op) {
    case UnaryOp::neg: return map3(n, x, x, dy, dx, [](T, T, T g) { return -g; });
    case UnaryOp::exp: return map3(n, x, y, dy, dx, [](T, T o, T g) { return g * o; });
    case UnaryOp::log: return map3(n, x, x, dy, dx, [](T v, T, T g) { return g / v; });
    case UnaryOp::abs:
      return map3(n, x, x, dy, dx, [](T v, T, T g) { return v > 0 ? g : v < 0 ? -g : T(0); });
    case UnaryOp::sqrt: return map3(n, x, y, dy, dx, [](T, T o, T g) { return g / (T(2) * o); });
    case UnaryOp::square: return map3(n, x, x, dy, dx, [](T v, T, T g) { return T(2) * v * g; });
    case UnaryOp::relu: return map3(n, x, x, dy, dx, [](T v, T, T g) { return v > 0 ? g : T(0); });
    case UnaryOp::leaky_relu:
      return map3(n, x, x, dy, dx, [a](T v, T, T g) { return v > 0 ? g : g * a; });
    case UnaryOp::sigmoid:
      return map3(n, x, y, dy, dx, [](T, T o, T g) { return g * o * (T(1) - o); });
    case UnaryOp::tanh: return map3(n, x, y, dy, dx, [](T, T o, T g) { return g * (T(1) - o * o); });
    case UnaryOp::add_scalar: return map3(n, x, x, dy, dx, [](T, T, T g) { return g; });
    case UnaryOp::mul_scalar: return map3(n, x, x, dy, dx, [a](T, T, T g) { return g * a; });
  }
}

namespace {
template <typename T, typename F>
void binary_loop(const Broadcast& bc, const T* a, const T* b, T* y, F f) {
  const int64_t* n = bc.size;
  const int64_t outer = n[0] * n[1] * n[2] * n[3];
  const bool a_unit = bc.a_stride[4] == 1, b_unit = bc.b_stride[4] == 1;
#pragma omp parallel for schedule(static) if (bc.numel() > kParallelMin)
  for (int64_t o = 0; o < outer; ++o) {
    const int64_t i0 = o / (n[1] * n[2] * n[3]), i1 = (o / (n[2] * n[3])) % n[1],
                  i2 = (o / n[3]) % n[2], i3 = o % n[3];
    const T* pa = a + i0 * bc.a_stride[0] + i1 * bc.a_stride[1] + i2 * bc.a_stride[2] + i3 * bc.a_stride[3];
    const T* pb = b + i0 * bc.b_stride[0] + i1 * bc.b_stride[1] + i2 * bc.b_stride[2] + i3 * bc.b_stride[3];
    T* py = y + o * n[4];
    if (a_unit && b_unit) {
#pragma omp simd
      for (int64_t i = 0; i < n[4]; ++i) py[i] = f(pa[i], pb[i]);
    } else if (a_unit && bc.b_stride[4] == 0) {
      const T vb = pb[0];
#pragma omp simd
      for (int64_t i = 0; i < n[4]; ++i) py[i] = f(pa[i], vb);
    } else {
      for (int64_t i = 0; i < n[4]; ++i) py[i] = f(pa[i * bc.a_stride[4]], pb[i * bc.b_stride[4]]);
    }
  }
}
}  // namespace

template <typename T>
void binary_forward(BinaryOp op, const Broadcast& bc, const T* a, const T* b, T* y) {
  switch (op) {
    case BinaryOp::add: return binary_loop(bc, a, b, y, [](T u, T v) { return u + v; });
    case BinaryOp::sub: return binary_loop(bc, a, b, y, [](T u, T v) { return u - v; });
    case BinaryOp::mul: return binary_loop(bc, a, b, y, [](T u, T v) { return u * v; });
    case BinaryOp::div: return binary_loop(bc, a, b, y, [](T u, T v) { return u / v; });
  }
}

template <typename T>
void axpy(int64_t n, T alpha, const T* b, T* a) {
#pragma omp parallel for simd schedule(static) if (n > kParallelMin)
  for (int64_t i = 0; i < n; ++i) a[i] += alpha * b[i];
}

template <typename T>
void prelu_forward(int64_t N, int64_t C, int64_t inner, int64_t C_w, const T* x, const T* w, T* y) {
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const T s = w[C_w == 1 ? 0 : nc % C];
    const T* px = x + nc * inner;
    T* py = y + nc * inner;
    for (int64_t i = 0; i < inner; ++i) py[i] = px[i] > 0 ? px[i] : s * px[i];
  }
}

template <typename T>
void prelu_backward(int64_t N, int64_t C, int64_t inner, int64_t C_w, const T* x, const T* w,
                    const T* dy, T* dx, T* dw) {
  // Per-(n,c) partial sums of dw, reduced serially: deterministic whatever the thread count.
  std::vector<double> part(N * C, 0.0);
#pragma omp parallel for schedule(static) if (N * C * inner > kParallelMin)
  for (int64_t nc = 0; nc < N * C; ++nc) {
    const T s = w[C_w == 1 ? 0 : nc % C];
    const T *px = x + nc * inner, *pg = dy + nc * inner;
    T* pd = dx + nc * inner;
    double acc = 0;
    for (int64_t i = 0; i < inner; ++i) {
      const bool pos = px[i] > 0;
      pd[i] = pos ? pg[i] : s * pg[i];
      if (!pos) acc += static_cast<double>(px[i]) * pg[i];
    }
    part[nc] = acc;
  }
  for (int64_t c = 0; c < C_w; ++c) dw[c] = 0;
  for (int64_t nc = 0; nc < N * C; ++nc) dw[C_w == 1 ? 0 : nc % C] += static_cast<T>(part[nc]);
}

#define ABBE_INSTANTIATE(T)                                                                  \
  template void unary_forward<T>(UnaryOp, int64_t, const T*, T*, T);                        \
  template void unary_backward<T>(UnaryOp, int64_t, const T*, const T*, const T*, T*, T);   \
  template void binary_forward<T>(BinaryOp, const Broadcast&, const T*, const T*, T*);      \
  template void axpy<T>(int64_t, T, const T*, T*);                                           \
  template void prelu_forward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*, T*); \
  template void prelu_backward<T>(int64_t, int64_t, int64_t, int64_t, const T*, const T*,   \
                                  const T*, T*, T*);
ABBE_INSTANTIATE(float)
ABBE_INSTANTIATE(double)

}  // namespace abbe::kernels::cpu
