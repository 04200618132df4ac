// Pointer-level tests of kernels/cpu/resample.h and kernels/cpu/pool.h.
// N = batch, C = channels, H,W = input size, P,Q = output size, r = factor.
// Every backward is checked as the exact adjoint of its forward (<F(x), dy> == <x, B(dy)> in
// double on random data, at sizes that take both the serial and the OpenMP paths); forwards are
// checked against hand-computed cases and against outputs printed by torch 1.13.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/cpu/pool.h"
#include "kernels/cpu/resample.h"

namespace {

namespace k = abbe::kernels::cpu;

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// ---------------------------------------------------------------------------------------------
// PyTorch facts, printed by torch 1.13 (Debian's /usr/bin/python3) in float64 with repr().
// The input is x[i] = ((37 i) % 23) / 4 - 2 over the flattened NCHW tensor. To regenerate:
//   x = (((torch.arange(n*c*h*w, dtype=torch.float64) * 37) % 23) / 4 - 2).reshape(n, c, h, w)
//   F.interpolate(x, size=.. or scale_factor=.., mode=.., align_corners=..)
//   F.avg_pool2d(x, 3, 2, 1, ceil_mode=.., count_include_pad=..)
//   F.max_pool2d(x, k, s, p, dilation=.., ceil_mode=.., return_indices=True)
//   pool sizes: F.max_pool2d(torch.zeros(1, 1, 1, n), (1, k), (1, s), (0, p), dilation=(1, d),
//                            ceil_mode=c).shape[-1]
// and print each output flattened, as in the comments above each array.
// clang-format off
// bilinear, size (4,7), align_corners=True -> (1, 1, 4, 7)
const std::vector<double> kBilinearSizeAc = {
    -2.0, 0.33333333333333326, 0.7500000000000002, -0.75, 1.583333333333333, 2.000000000000001,
    0.5, -1.8333333333333333, 0.49999999999999994, 0.9166666666666669, -0.5833333333333333,
    1.7499999999999996, 2.1666666666666674, 0.6666666666666666, -1.6666666666666665,
    0.6666666666666665, 1.0833333333333335, -0.4166666666666667, 1.9166666666666663,
    2.3333333333333344, 0.8333333333333333, -1.5, 0.8333333333333333, 1.2500000000000002, -0.25,
    2.0833333333333326, 2.500000000000001, 1.0};
// bilinear, size (4,7), align_corners=False -> (1, 1, 4, 7)
const std::vector<double> kBilinearSize = {
    -2.0, -1.1102230246251565e-16, 0.857142857142857, -0.75, 1.7500000000000004,
    1.7857142857142851, 0.5, -1.84375, 0.1562499999999998, 1.0133928571428568, -0.59375,
    1.9062500000000004, 1.9419642857142851, 0.65625, -1.65625, 0.3437499999999998,
    1.200892857142857, -0.40625, 2.0937500000000004, 2.129464285714285, 0.84375, -1.5, 0.5,
    1.357142857142857, -0.25, 2.2500000000000004, 2.2857142857142856, 1.0};
// bilinear, scale_factor=2, align_corners=False -> (1, 1, 6, 10)
const std::vector<double> kBilinearScale2 = {
    -2.0, -1.125, 0.625, 0.9375, -0.1875, 0.125, 1.875, 2.1875, 1.0625, 0.5, -1.9375, -1.0625,
    0.6875, 1.0, -0.125, 0.1875, 1.9375, 2.25, 1.125, 0.5625, -1.8125, -0.9375, 0.8125, 1.125,
    0.0, 0.3125, 2.0625, 2.375, 1.25, 0.6875, -1.6875, -0.8125, 0.9375, 1.25, 0.125, 0.4375,
    2.1875, 2.5, 1.375, 0.8125, -1.5625, -0.6875, 1.0625, 1.375, 0.25, 0.5625, 2.3125, 2.625,
    1.5, 0.9375, -1.5, -0.625, 1.125, 1.4375, 0.3125, 0.625, 2.375, 2.6875, 1.5625, 1.0};
// bilinear, scale_factor=1.5 (ratio 1/1.5, not 3/4, 5/7) -> (1, 1, 4, 7)
const std::vector<double> kBilinearScale15 = {
    -2.0, -0.2500000000000001, 1.1250000000000004, -0.3749999999999999, 1.0, 2.3750000000000004,
    0.8750000000000007, -1.875, -0.1250000000000001, 1.2500000000000004, -0.24999999999999986,
    1.125, 2.5000000000000004, 1.0000000000000007, -1.7083333333333333, 0.041666666666666546,
    1.4166666666666667, -0.0833333333333332, 1.2916666666666667, 2.6666666666666665,
    1.1666666666666674, -1.5416666666666667, 0.20833333333333315, 1.5833333333333337,
    0.08333333333333351, 1.4583333333333333, 2.833333333333334, 1.333333333333334};
// bilinear, scale_factor=1.3: H 3 -> 3 is copied, W uses 1/1.3 -> (1, 1, 3, 6)
const std::vector<double> kBilinearScale13 = {
    -2.0, 0.2884615384615381, 0.5480769230769235, -0.07692307692307776, 2.615384615384614,
    1.1057692307692317, -1.75, 0.5384615384615382, 0.7980769230769235, 0.17307692307692224,
    2.865384615384614, 1.3557692307692317, -1.5, 0.7884615384615381, 1.0480769230769234,
    0.42307692307692224, 3.1153846153846145, 1.6057692307692317};
// bilinear, size (2,3), align_corners=False (downsampling) -> (1, 1, 2, 3)
const std::vector<double> kBilinearDown = {
    -0.7708333333333333, -0.6875, 1.3124999999999993, -0.39583333333333326, -0.3125,
    1.6874999999999993};
// nearest, scale_factor=1.5 -> (1, 1, 4, 7)
const std::vector<double> kNearestScale15 = {
    -2.0, -2.0, 1.5, -0.75, -0.75, 2.75, 0.5, -2.0, -2.0, 1.5, -0.75, -0.75, 2.75, 0.5, -1.75,
    -1.75, 1.75, -0.5, -0.5, 3.0, 0.75, -1.5, -1.5, 2.0, -0.25, -0.25, 3.25, 1.0};
// nearest, size (4,7) -> (1, 1, 4, 7)
const std::vector<double> kNearestSize = {
    -2.0, -2.0, 1.5, -0.75, -0.75, 2.75, 0.5, -2.0, -2.0, 1.5, -0.75, -0.75, 2.75, 0.5, -1.75,
    -1.75, 1.75, -0.5, -0.5, 3.0, 0.75, -1.5, -1.5, 2.0, -0.25, -0.25, 3.25, 1.0};
// nearest, scale_factor=1.3: H 3 -> 3 is copied -> (1, 1, 3, 6)
const std::vector<double> kNearestScale13 = {
    -2.0, -2.0, 1.5, -0.75, 2.75, 2.75, -1.75, -1.75, 1.75, -0.5, 3.0, 3.0, -1.5, -1.5, 2.0,
    -0.25, 3.25, 3.25};
// nearest, 1x1x1x10, scale_factor=2.05: W 10 -> 20 takes dst/2, not floor(dst/2.05) -> (1,1,2,20)
const std::vector<double> kNearestScale205 = {
    -2.0, -2.0, 1.5, 1.5, -0.75, -0.75, 2.75, 2.75, 0.5, 0.5, -1.75, -1.75, 1.75, 1.75, -0.5,
    -0.5, 3.0, 3.0, 0.75, 0.75, -2.0, -2.0, 1.5, 1.5, -0.75, -0.75, 2.75, 2.75, 0.5, 0.5, -1.75,
    -1.75, 1.75, 1.75, -0.5, -0.5, 3.0, 3.0, 0.75, 0.75};
// avg_pool2d, 1x1x6x5, k3 s2 p1, ceil_mode=False, count_include_pad=True -> (1, 1, 3, 3)
const std::vector<double> kAvgFloorCip = {
    -0.05555555555555555, 0.8611111111111112, 0.7777777777777778, 0.16666666666666666,
    1.6666666666666667, 1.4166666666666667, 0.5, 0.8888888888888888, 0.4722222222222222};
// avg_pool2d, 1x1x6x5, k3 s2 p1, ceil_mode=False, count_include_pad=False -> (1, 1, 3, 3)
const std::vector<double> kAvgFloorNoCip = {
    -0.125, 1.2916666666666667, 1.75, 0.25, 1.6666666666666667, 2.125, 0.75, 0.8888888888888888,
    0.7083333333333334};
// avg_pool2d, 1x1x6x5, k3 s2 p1, ceil_mode=True, count_include_pad=True -> (1, 1, 4, 3)
const std::vector<double> kAvgCeilCip = {
    -0.05555555555555555, 0.8611111111111112, 0.7777777777777778, 0.16666666666666666,
    1.6666666666666667, 1.4166666666666667, 0.5, 0.8888888888888888, 0.4722222222222222,
    0.3333333333333333, 0.25, 0.0};
// avg_pool2d, 1x1x6x5, k3 s2 p1, ceil_mode=True, count_include_pad=False -> (1, 1, 4, 3)
const std::vector<double> kAvgCeilNoCip = {
    -0.125, 1.2916666666666667, 1.75, 0.25, 1.6666666666666667, 2.125, 0.75, 0.8888888888888888,
    0.7083333333333334, 1.0, 0.5, 0.0};
// max_pool2d, 1x1x7x8, NaN at (1,3) (5,5) (5,7), k3 s2 p1 dil2, ceil_mode=False -> (1, 1, 3, 3)
const std::vector<double> kMaxFloor = {
    kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, 3.5, kNaN, kNaN};
// its indices
const std::vector<int64_t> kMaxFloorIdx = {
    11, 11, 11, 11, 45, 47, 41, 45, 47};
// max_pool2d, 1x1x7x8, NaN at (1,3) (5,5) (5,7), k3 s2 p1 dil2, ceil_mode=True -> (1, 1, 3, 4)
const std::vector<double> kMaxCeil = {
    kNaN, kNaN, kNaN, 3.25, kNaN, kNaN, kNaN, kNaN, 3.5, kNaN, kNaN, kNaN};
// its indices
const std::vector<int64_t> kMaxCeilIdx = {
    11, 11, 11, 13, 11, 45, 47, 47, 41, 45, 47, 47};
// max_pool2d, 1x1x5x6, k2 s2, ceil_mode=True -> (1, 1, 3, 3)
const std::vector<double> kMax2Ceil = {
    1.75, 3.0, 2.0, 3.5, 2.5, 2.25, 1.5, 2.75, 1.75};
// its indices
const std::vector<int64_t> kMax2CeilIdx = {
    6, 8, 11, 18, 21, 16, 24, 26, 29};
// pool output sizes {in, k, s, p, dil, ceil_mode, out} from F.max_pool2d on 1x1x1xin
const std::vector<std::array<int64_t, 7>> kPoolSizes = {
    {1, 2, 2, 1, 1, 1, 1},
    {2, 1, 2, 0, 1, 1, 1},
    {2, 1, 3, 0, 2, 1, 1},
    {2, 3, 3, 1, 1, 1, 1},
    {3, 2, 2, 1, 1, 1, 2},
    {4, 1, 2, 0, 2, 1, 2},
    {5, 1, 3, 0, 1, 1, 2},
    {5, 2, 3, 1, 1, 1, 2},
    {6, 1, 2, 0, 1, 1, 3},
    {6, 1, 3, 0, 2, 1, 2},
    {7, 2, 3, 1, 1, 1, 3},
    {8, 1, 2, 0, 2, 1, 4},
    {8, 2, 3, 1, 1, 1, 3},
    {1, 4, 2, 2, 1, 1, 2},
    {3, 3, 3, 1, 1, 1, 2},
    {4, 2, 3, 0, 1, 1, 2},
    {4, 3, 3, 1, 2, 1, 2},
    {5, 3, 3, 0, 1, 1, 2},
    {5, 4, 3, 2, 1, 1, 3},
    {6, 3, 2, 0, 2, 1, 2},
    {6, 4, 2, 2, 2, 1, 3},
    {7, 2, 3, 0, 2, 1, 3},
    {7, 4, 2, 2, 1, 1, 5},
    {8, 2, 3, 0, 2, 1, 3},
    {8, 3, 3, 1, 2, 1, 3},
    {8, 4, 3, 2, 1, 1, 4},
    {1, 1, 1, 0, 1, 0, 1},
    {2, 4, 3, 1, 1, 0, 1},
    {4, 1, 2, 0, 1, 0, 2},
    {5, 1, 2, 0, 2, 0, 3},
    {5, 4, 3, 2, 1, 0, 2},
    {6, 4, 2, 2, 1, 0, 4},
    {7, 4, 1, 1, 2, 0, 3},
    {8, 3, 2, 1, 2, 0, 3}};
// Bitwise float32 interpolation weights, read off F.interpolate of one-hot 1x1x1xW inputs
// (torch.eye(W).reshape(W, 1, 1, W), mode='bilinear'), nonzeros listed with repr().
struct Weight {
  int64_t q, w;
  double weight;  // a float32 value, exact in double
};
// W 13 -> 20, scale_factor=1.57, align_corners=False: {q, w, weight}
const std::vector<Weight> kWeights13to20Scale157 = {
    {0,0,1.0}, {1,0,0.5445859432220459}, {1,1,0.4554140269756317}, {2,1,0.9076433181762695},
    {2,2,0.09235671162605286}, {3,1,0.2707005739212036}, {3,2,0.7292994260787964},
    {4,2,0.6337579488754272}, {4,3,0.36624208092689514}, {5,3,0.9968152046203613},
    {5,4,0.003184765577316284}, {6,3,0.35987257957458496}, {6,4,0.640127420425415},
    {7,4,0.722929835319519}, {7,5,0.27707013487815857}, {8,4,0.08598721027374268},
    {8,5,0.9140127897262573}, {9,5,0.44904446601867676}, {9,6,0.5509555339813232},
    {10,6,0.8121018409729004}, {10,7,0.187898188829422}, {11,6,0.17515909671783447},
    {11,7,0.8248409032821655}, {12,7,0.5382164716720581}, {12,8,0.4617835581302643},
    {13,8,0.9012737274169922}, {13,9,0.09872624278068542}, {14,8,0.2643311023712158},
    {14,9,0.7356688976287842}, {15,9,0.6273883581161499}, {15,10,0.3726116120815277},
    {16,10,0.9904457330703735}, {16,11,0.009554296731948853}, {17,10,0.3535029888153076},
    {17,11,0.6464970111846924}, {18,11,0.7165603637695312}, {18,12,0.28343966603279114},
    {19,11,0.07961761951446533}, {19,12,0.9203823804855347}};
// W 17 -> 23 (size), align_corners=True: {q, w, weight}
const std::vector<Weight> kWeights17to23Ac = {
    {0,0,1.0}, {1,0,0.27272725105285645}, {1,1,0.7272727489471436}, {2,1,0.5454545021057129},
    {2,2,0.4545454978942871}, {3,2,0.8181817531585693}, {3,3,0.18181824684143066},
    {4,2,0.09090900421142578}, {4,3,0.9090909957885742}, {5,3,0.3636362552642822},
    {5,4,0.6363637447357178}, {6,4,0.6363635063171387}, {6,5,0.36363649368286133},
    {7,5,0.9090907573699951}, {7,6,0.09090924263000488}, {8,5,0.18181800842285156},
    {8,6,0.8181819915771484}, {9,6,0.454545259475708}, {9,7,0.545454740524292},
    {10,7,0.7272725105285645}, {10,8,0.27272748947143555}, {11,8,0.9999997615814209},
    {11,9,2.384185791015625e-07}, {12,8,0.27272701263427734}, {12,9,0.7272729873657227},
    {13,9,0.5454542636871338}, {13,10,0.4545457363128662}, {14,10,0.8181815147399902},
    {14,11,0.18181848526000977}, {15,10,0.09090876579284668}, {15,11,0.9090912342071533},
    {16,11,0.3636360168457031}, {16,12,0.6363639831542969}, {17,12,0.6363632678985596},
    {17,13,0.36363673210144043}, {18,13,0.909090518951416}, {18,14,0.09090948104858398},
    {19,13,0.18181777000427246}, {19,14,0.8181822299957275}, {20,14,0.4545450210571289},
    {20,15,0.5454549789428711}, {21,15,0.7272722721099854}, {21,16,0.27272772789001465},
    {22,16,1.0}};
// clang-format on

// ---------------------------------------------------------------------------------------------
// Helpers.

template <typename T>
std::vector<T> torch_input(int64_t n) {
  std::vector<T> x(n);
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(((37 * i) % 23) / 4.0 - 2.0);
  return x;
}

template <typename T>
std::vector<T> random_vec(int64_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(n);
  for (auto& e : v) e = static_cast<T>(u(gen));
  return v;
}

template <typename T>
double dot(const std::vector<T>& a, const std::vector<T>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return s;
}

// Relative tolerance of each dtype: a few ulps of the accumulated magnitude.
template <typename T>
double rtol() {
  return std::is_same_v<T, float> ? 2e-5 : 1e-12;
}

// |got - want| <= tol * (1 + |want|) elementwise, NaN matches NaN; reports the worst element.
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<double>& want,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  const double tol = rtol<T>();
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (std::isnan(w) || std::isnan(g)) {
      EXPECT_TRUE(std::isnan(w) && std::isnan(g))
          << what << " [" << i << "]: got " << g << ", want " << w;
      continue;
    }
    const double err = std::abs(g - w) / (1 + std::abs(w));
    if (err > worst) worst = err, at = i;
  }
  EXPECT_LE(worst, tol) << what << ": worst scaled error " << worst << " at [" << at << "] (got "
                        << static_cast<double>(got[at]) << ", want " << want[at] << "), tolerance "
                        << tol;
}

template <typename T>
std::vector<double> as_double(const std::vector<T>& v) {
  return std::vector<double>(v.begin(), v.end());
}

// <F(x), dy> == <x, B(dy)>; prints how close it came on failure.
void expect_adjoint(double fwd, double bwd, double tol, const std::string& what) {
  const double err = std::abs(fwd - bwd) / (1 + std::abs(fwd));
  EXPECT_LE(err, tol) << what << ": <F(x),dy> = " << fwd << ", <x,B(dy)> = " << bwd
                      << ", scaled error " << err;
}

// ---------------------------------------------------------------------------------------------
// Pixel shuffle / unshuffle.

TEST(PixelShuffle, HandComputed) {
  // x (1, 4, 1, 2): channel c holds {10c, 10c+1}. y (1, 1, 2, 4): y[i][2w+j] = x[2i+j][w].
  const std::vector<double> x = {0, 1, 10, 11, 20, 21, 30, 31};
  std::vector<double> y(8), back(8);
  k::pixel_shuffle_forward<double>(1, 1, 1, 2, 2, x.data(), y.data());
  expect_close(y, {0, 10, 1, 11, 20, 30, 21, 31}, "pixel_shuffle 1x4x1x2 r2");
  k::pixel_unshuffle_forward<double>(1, 1, 2, 4, 2, y.data(), back.data());
  expect_close(back, x, "pixel_unshuffle undoes pixel_shuffle");
}

template <typename T>
void check_pixel_shuffle(int64_t N, int64_t C, int64_t H, int64_t W, int64_t r) {
  const std::string tag = "pixel_shuffle " + std::to_string(N) + "x" + std::to_string(C * r * r) +
                          "x" + std::to_string(H) + "x" + std::to_string(W) + " r" +
                          std::to_string(r);
  const int64_t n = N * C * r * r * H * W;
  const auto x = random_vec<T>(n, 1), dy = random_vec<T>(n, 2);
  std::vector<T> y(n), dx(n), x2(n), z(n), dz(n);
  k::pixel_shuffle_forward(N, C, H, W, r, x.data(), y.data());
  // Against the index formula y[n,c,h*r+i,w*r+j] = x[n,c*r*r+i*r+j,h,w].
  bool same = true;
  for (int64_t b = 0; b < N; ++b)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < r; ++j)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w)
              same &= y[((b * C + c) * H * r + h * r + i) * W * r + w * r + j] ==
                      x[(((b * C + c) * r * r + i * r + j) * H + h) * W + w];
  EXPECT_TRUE(same) << tag;
  k::pixel_shuffle_backward(N, C, H, W, r, dy.data(), dx.data());
  expect_adjoint(dot(y, dy), dot(x, dx), 1e-12, tag + " adjoint");
  k::pixel_unshuffle_forward(N, C, H * r, W * r, r, y.data(), x2.data());
  EXPECT_EQ(x2, x) << tag << ": unshuffle(shuffle(x)) != x";
  // pixel_unshuffle (N, C, H*r, W*r) -> (N, C*r*r, H, W) and its backward.
  k::pixel_unshuffle_forward(N, C, H * r, W * r, r, dy.data(), z.data());
  k::pixel_unshuffle_backward(N, C, H * r, W * r, r, x.data(), dz.data());
  expect_adjoint(dot(z, x), dot(dy, dz), 1e-12, tag + " unshuffle adjoint");
}

TEST(PixelShuffle, AdjointAndIndexFormula) {
  for (auto [N, C, H, W, r] : std::vector<std::array<int64_t, 5>>{{2, 3, 5, 7, 2},
                                                                  {1, 2, 4, 3, 3},
                                                                  {1, 1, 3, 2, 5},
                                                                  {2, 16, 32, 32, 2},
                                                                  {1, 8, 32, 24, 3},
                                                                  {1, 4, 16, 16, 4}}) {
    check_pixel_shuffle<double>(N, C, H, W, r);
    check_pixel_shuffle<float>(N, C, H, W, r);
  }
}

// ---------------------------------------------------------------------------------------------
// Bilinear and nearest upsampling.

struct Interp {
  int64_t N, C, H, W, P, Q;
  bool align_corners;
  double scale_h, scale_w;
};

template <typename T>
std::vector<T> bilinear(const Interp& s, const std::vector<T>& x) {
  std::vector<T> y(s.N * s.C * s.P * s.Q);
  k::upsample_bilinear_forward(s.N, s.C, s.H, s.W, s.P, s.Q, s.align_corners, s.scale_h, s.scale_w,
                               x.data(), y.data());
  return y;
}

template <typename T>
std::vector<T> nearest(const Interp& s, const std::vector<T>& x) {
  std::vector<T> y(s.N * s.C * s.P * s.Q);
  k::upsample_nearest_forward(s.N, s.C, s.H, s.W, s.P, s.Q, s.scale_h, s.scale_w, x.data(),
                              y.data());
  return y;
}

template <typename T>
void check_torch_interp() {
  const auto x = torch_input<T>(15), x10 = torch_input<T>(10);
  expect_close(bilinear<T>({1, 1, 3, 5, 4, 7, true, 0, 0}, x), kBilinearSizeAc, "bilinear size ac");
  expect_close(bilinear<T>({1, 1, 3, 5, 4, 7, false, 0, 0}, x), kBilinearSize, "bilinear size");
  expect_close(bilinear<T>({1, 1, 3, 5, 6, 10, false, 2, 2}, x), kBilinearScale2,
               "bilinear scale 2");
  expect_close(bilinear<T>({1, 1, 3, 5, 4, 7, false, 1.5, 1.5}, x), kBilinearScale15,
               "bilinear scale 1.5");
  // align_corners ignores the scale: scale 1.5 gives the size (4, 7) result.
  expect_close(bilinear<T>({1, 1, 3, 5, 4, 7, true, 1.5, 1.5}, x), kBilinearSizeAc,
               "bilinear scale 1.5 ac");
  expect_close(bilinear<T>({1, 1, 3, 5, 3, 6, false, 1.3, 1.3}, x), kBilinearScale13,
               "bilinear scale 1.3");
  expect_close(bilinear<T>({1, 1, 3, 5, 2, 3, false, 0, 0}, x), kBilinearDown,
               "bilinear downsample");
  expect_close(bilinear<T>({1, 1, 3, 5, 1, 1, true, 0, 0}, x), {-2.0}, "bilinear to 1x1 ac");
  expect_close(nearest<T>({1, 1, 3, 5, 4, 7, false, 1.5, 1.5}, x), kNearestScale15,
               "nearest scale 1.5");
  expect_close(nearest<T>({1, 1, 3, 5, 4, 7, false, 0, 0}, x), kNearestSize, "nearest size");
  expect_close(nearest<T>({1, 1, 3, 5, 3, 6, false, 1.3, 1.3}, x), kNearestScale13,
               "nearest scale 1.3");
  expect_close(nearest<T>({1, 1, 1, 10, 2, 20, false, 2.05, 2.05}, x10), kNearestScale205,
               "nearest scale 2.05");
}

TEST(Upsample, MatchesTorch) {
  check_torch_interp<double>();
  check_torch_interp<float>();
}

// Torch 1.13 rounds the float ratio, evaluates the source coordinate in double, then rounds
// l1 = src - i0 to float and takes l0 = 1 - l1 in float. With H = P = 1 (rows copied) and a
// one-hot input, each output is exactly one weight whatever the FMA contraction, so compare bits.
void check_float_weights(int64_t W, int64_t Q, bool align_corners, double scale,
                         const std::vector<Weight>& want) {
  std::vector<float> got(Q * W), x(W), y(Q);
  for (int64_t w = 0; w < W; ++w) {
    std::fill(x.begin(), x.end(), 0.0f);
    x[w] = 1.0f;
    k::upsample_bilinear_forward(1, 1, 1, W, 1, Q, align_corners, scale, scale, x.data(), y.data());
    for (int64_t q = 0; q < Q; ++q) got[q * W + w] = y[q];
  }
  std::vector<float> dense(Q * W, 0.0f);
  for (const auto& [q, w, weight] : want) dense[q * W + w] = static_cast<float>(weight);
  for (int64_t i = 0; i < Q * W; ++i)
    EXPECT_EQ(got[i], dense[i]) << "W " << W << " -> " << Q << ": weight of input " << i % W
                                << " in output " << i / W;
}

TEST(Upsample, FloatWeightsMatchTorchBitwise) {
  check_float_weights(13, 20, false, 1.57, kWeights13to20Scale157);
  check_float_weights(17, 23, true, 0, kWeights17to23Ac);
}

TEST(Upsample, HandComputed) {
  // W 2 -> 4, align_corners=False: src = max((q + 0.5) / 2 - 0.5, 0) = 0, .25, .75, 1.25 (-> 1).
  expect_close(bilinear<double>({1, 1, 1, 2, 1, 4, false, 0, 0}, {0, 4}), {0, 1, 3, 4},
               "bilinear 1x2 -> 1x4");
  // align_corners=True: src = q * (2 - 1) / (3 - 1).
  expect_close(bilinear<double>({1, 1, 2, 2, 3, 3, true, 0, 0}, {0, 2, 4, 6}),
               {0, 1, 2, 2, 3, 4, 4, 5, 6}, "bilinear 2x2 -> 3x3 ac");
  expect_close(nearest<double>({1, 1, 1, 3, 2, 6, false, 0, 0}, {1, 2, 3}),
               {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, "nearest x2");
  // W 4 -> 2: src = floor(q * 2).
  expect_close(nearest<double>({1, 1, 1, 4, 1, 2, false, 0, 0}, {1, 2, 3, 4}), {1, 3},
               "nearest /2");
}

const std::vector<Interp> kInterpCases = {
    {2, 3, 3, 5, 4, 7, true, 0, 0},          {2, 3, 3, 5, 4, 7, false, 0, 0},
    {1, 2, 3, 5, 6, 10, false, 2, 2},        {1, 2, 3, 5, 4, 7, false, 1.5, 1.5},
    {1, 2, 3, 5, 3, 6, false, 1.3, 1.3},     {2, 2, 7, 9, 3, 4, false, 0, 0},
    {1, 3, 5, 4, 1, 1, true, 0, 0},          {1, 1, 1, 1, 3, 4, false, 0, 0},
    {1, 1, 6, 5, 4, 2, true, 0, 0},          {2, 4, 32, 32, 64, 64, false, 2, 2},
    {1, 1, 128, 128, 256, 256, false, 2, 2}, {1, 2, 40, 40, 120, 120, true, 3, 3},
    {1, 3, 50, 37, 101, 11, false, 0, 0}};

template <typename T>
void check_interp_adjoint(const Interp& s) {
  const std::string tag = "upsample " + std::to_string(s.N) + "x" + std::to_string(s.C) + "x" +
                          std::to_string(s.H) + "x" + std::to_string(s.W) + "->" +
                          std::to_string(s.P) + "x" + std::to_string(s.Q) +
                          (s.align_corners ? " ac" : "") + " scale " + std::to_string(s.scale_h);
  const int64_t nx = s.N * s.C * s.H * s.W, ny = s.N * s.C * s.P * s.Q;
  const auto x = random_vec<T>(nx, 3), dy = random_vec<T>(ny, 4);
  std::vector<T> dx(nx, T(7)), ref_y(ny), ref_dx(nx);  // dx prefilled: backward must overwrite
  const auto y = bilinear<T>(s, x);
  k::reference::upsample_bilinear_forward(s.N, s.C, s.H, s.W, s.P, s.Q, s.align_corners, s.scale_h,
                                          s.scale_w, x.data(), ref_y.data());
  expect_close(y, as_double(ref_y), tag + " bilinear forward vs reference");
  k::upsample_bilinear_backward(s.N, s.C, s.H, s.W, s.P, s.Q, s.align_corners, s.scale_h, s.scale_w,
                                dy.data(), dx.data());
  k::reference::upsample_bilinear_backward(s.N, s.C, s.H, s.W, s.P, s.Q, s.align_corners, s.scale_h,
                                           s.scale_w, dy.data(), ref_dx.data());
  expect_close(dx, as_double(ref_dx), tag + " bilinear backward vs reference");
  expect_adjoint(dot(y, dy), dot(x, dx), std::is_same_v<T, float> ? 1e-5 : 1e-12,
                 tag + " bilinear adjoint");

  std::fill(dx.begin(), dx.end(), T(7));
  const auto yn = nearest<T>(s, x);
  k::upsample_nearest_backward(s.N, s.C, s.H, s.W, s.P, s.Q, s.scale_h, s.scale_w, dy.data(),
                               dx.data());
  expect_adjoint(dot(yn, dy), dot(x, dx), std::is_same_v<T, float> ? 1e-5 : 1e-12,
                 tag + " nearest adjoint");
}

TEST(Upsample, AdjointAndReference) {
  for (const auto& s : kInterpCases) {
    check_interp_adjoint<double>(s);
    check_interp_adjoint<float>(s);
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling.

TEST(Pool, OutputSizeMatchesTorch) {
  for (const auto& [in, kk, s, p, d, ceil, out] : kPoolSizes)
    EXPECT_EQ(k::pool_out_size(in, kk, s, p, ceil != 0, d), out)
        << "in " << in << " k " << kk << " s " << s << " p " << p << " dil " << d << " ceil "
        << ceil;
}

template <typename T>
void check_torch_pool() {
  const auto x = torch_input<T>(30);
  for (bool ceil : {false, true})
    for (bool cip : {true, false}) {
      const k::Pool2dShape s{1, 1, 6, 5, 3, 3, 2, 2, 1, 1, 1, 1, ceil, cip};  // k3 s2 p1
      std::vector<T> y(s.P() * s.Q());
      k::avg_pool2d_forward(s, x.data(), y.data());
      expect_close(
          y, ceil ? (cip ? kAvgCeilCip : kAvgCeilNoCip) : (cip ? kAvgFloorCip : kAvgFloorNoCip),
          std::string("avg_pool2d k3 s2 p1 ceil ") + (ceil ? "1" : "0") + " cip " +
              (cip ? "1" : "0"));
    }
  auto xn = torch_input<T>(56);
  for (int64_t i : {1 * 8 + 3, 5 * 8 + 5, 5 * 8 + 7}) xn[i] = std::numeric_limits<T>::quiet_NaN();
  for (bool ceil : {false, true}) {
    const k::Pool2dShape s{1, 1, 7, 8, 3, 3, 2, 2, 1, 1, 2, 2, ceil, true};  // k3 s2 p1 dil2
    std::vector<T> y(s.P() * s.Q());
    std::vector<int64_t> idx(y.size());
    k::max_pool2d_forward(s, xn.data(), y.data(), idx.data());
    expect_close(y, ceil ? kMaxCeil : kMaxFloor,
                 std::string("max_pool2d NaN dil 2 ceil ") + (ceil ? "1" : "0"));
    EXPECT_EQ(idx, ceil ? kMaxCeilIdx : kMaxFloorIdx) << "max_pool2d NaN indices, ceil " << ceil;
  }
  const k::Pool2dShape s{1, 1, 5, 6, 2, 2, 2, 2, 0, 0, 1, 1, true, true};  // k2 s2 ceil
  std::vector<T> y(s.P() * s.Q());
  std::vector<int64_t> idx(y.size());
  k::max_pool2d_forward(s, x.data(), y.data(), idx.data());
  expect_close(y, kMax2Ceil, "max_pool2d k2 s2 ceil");
  EXPECT_EQ(idx, kMax2CeilIdx) << "max_pool2d k2 s2 ceil indices";
}

TEST(Pool, MatchesTorch) {
  check_torch_pool<double>();
  check_torch_pool<float>();
}

TEST(Pool, HandComputed) {
  const double inf = std::numeric_limits<double>::infinity();
  // avg 2x2 s2 on 2x4: block means.
  const k::Pool2dShape a{.N = 1, .C = 1, .H = 2, .W = 4, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
  std::vector<double> y(2);
  k::avg_pool2d_forward(a, std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8}.data(), y.data());
  expect_close(y, {3.5, 5.5}, "avg_pool2d 2x2 blocks");
  // k2 s1 p1 on a 1x1 input of 4: four windows each hold the one element plus three pads.
  const k::Pool2dShape b{1, 1, 1, 1, 2, 2, 1, 1, 1, 1};
  y.resize(4);
  const double four = 4;
  k::avg_pool2d_forward(b, &four, y.data());
  expect_close(y, {1, 1, 1, 1}, "avg_pool2d count_include_pad");
  auto b2 = b;
  b2.count_include_pad = false;
  k::avg_pool2d_forward(b2, &four, y.data());
  expect_close(y, {4, 4, 4, 4}, "avg_pool2d exclude pad");
  // max ties keep the first; an all -inf window reports -inf at its first element.
  const k::Pool2dShape m{.N = 2, .C = 1, .H = 2, .W = 2, .kh = 2, .kw = 2, .sh = 2, .sw = 2};
  std::vector<double> ym(2);
  std::vector<int64_t> idx(2);
  k::max_pool2d_forward(m, std::vector<double>{1, 3, 3, 2, -inf, -inf, -inf, -inf}.data(),
                        ym.data(), idx.data());
  EXPECT_EQ(ym, (std::vector<double>{3, -inf}));
  EXPECT_EQ(idx, (std::vector<int64_t>{1, 0}));
}

// clang-format off
const std::vector<k::Pool2dShape> kPoolCases = {
    // N  C   H   W kh kw sh sw ph pw dil_h dil_w ceil_mode count_include_pad
    {2,  3,  6,  5, 3, 3, 2, 2, 1, 1, 1, 1, false, true},
    {2,  3,  6,  5, 3, 3, 2, 2, 1, 1, 1, 1, true,  true},
    {2,  3,  6,  5, 3, 3, 2, 2, 1, 1, 1, 1, true,  false},
    {1,  2,  9,  7, 3, 2, 1, 1, 1, 1, 1, 1, false, true},
    {1,  2,  9, 10, 3, 3, 1, 1, 1, 1, 1, 1, false, true},
    {1,  2,  4,  3, 3, 3, 2, 2, 1, 1, 1, 1, true,  true},
    {1,  2,  9,  7, 4, 2, 3, 3, 2, 1, 1, 1, true,  false},
    {1,  2,  8, 11, 3, 3, 2, 3, 1, 1, 2, 3, true,  true},
    {2, 16, 64, 64, 2, 2, 2, 2, 0, 0, 1, 1, false, true},
    {1,  8, 65, 63, 3, 3, 2, 2, 1, 1, 1, 1, true,  false},
};
// clang-format on

// Pooling by its definition, one output element at a time (the shipped kernels split edge and
// interior columns and specialise common windows).
template <typename T>
void avg_pool_by_definition(const k::Pool2dShape& s, const std::vector<T>& x, std::vector<T>& y) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t b = 0; b < s.N * s.C; ++b)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        // The window, clipped to the padded input, then to the input.
        const int64_t h0 = p * s.sh - s.ph, h1 = std::min(h0 + s.kh, s.H + s.ph);
        const int64_t w0 = q * s.sw - s.pw, w1 = std::min(w0 + s.kw, s.W + s.pw);
        T sum = 0;
        int64_t valid = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w)
            if (h >= 0 && h < s.H && w >= 0 && w < s.W) sum += x[(b * s.H + h) * s.W + w], ++valid;
        const int64_t divisor = s.count_include_pad ? (h1 - h0) * (w1 - w0) : valid;
        y[(b * P + p) * Q + q] = valid ? sum / static_cast<T>(divisor) : T(0);
      }
}

template <typename T>
void max_pool_by_definition(const k::Pool2dShape& s, const std::vector<T>& x, std::vector<T>& y,
                            std::vector<int64_t>& idx) {
  const int64_t P = s.P(), Q = s.Q();
  for (int64_t b = 0; b < s.N * s.C; ++b)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < Q; ++q) {
        T best = -std::numeric_limits<T>::infinity();
        int64_t arg = -1;
        for (int64_t i = 0; i < s.kh; ++i)
          for (int64_t j = 0; j < s.kw; ++j) {
            const int64_t h = p * s.sh - s.ph + i * s.dil_h, w = q * s.sw - s.pw + j * s.dil_w;
            if (h < 0 || h >= s.H || w < 0 || w >= s.W) continue;
            const T v = x[(b * s.H + h) * s.W + w];
            if (arg < 0 || v > best || std::isnan(v)) best = v, arg = h * s.W + w;
          }
        y[(b * P + p) * Q + q] = best;
        idx[(b * P + p) * Q + q] = arg;
      }
}

TEST(Pool, MatchesDefinition) {
  for (const auto& s : kPoolCases) {
    auto x = random_vec<double>(s.N * s.C * s.H * s.W, 7);
    std::vector<double> y(s.N * s.C * s.P() * s.Q()), want(y.size());
    std::vector<int64_t> idx(y.size()), want_idx(y.size());
    if (s.dil_h == 1 && s.dil_w == 1) {
      k::avg_pool2d_forward(s, x.data(), y.data());
      avg_pool_by_definition(s, x, want);
      expect_close(y, want, "avg_pool2d vs definition");
    }
    for (size_t i = 0; i < x.size(); i += 17) x[i] = kNaN;  // NaNs: some windows, some positions
    for (size_t i = 5; i < x.size(); i += 13) x[i] = x[i - 1];  // ties
    k::max_pool2d_forward(s, x.data(), y.data(), idx.data());
    max_pool_by_definition(s, x, want, want_idx);
    expect_close(y, want, "max_pool2d vs definition");
    EXPECT_EQ(idx, want_idx) << "max_pool2d indices vs definition";
  }
}

template <typename T>
void check_pool_adjoint(const k::Pool2dShape& s) {
  const std::string tag =
      "pool " + std::to_string(s.N) + "x" + std::to_string(s.C) + "x" + std::to_string(s.H) + "x" +
      std::to_string(s.W) + " k" + std::to_string(s.kh) + "x" + std::to_string(s.kw) + " s" +
      std::to_string(s.sh) + "x" + std::to_string(s.sw) + " p" + std::to_string(s.ph) + "x" +
      std::to_string(s.pw) + " d" + std::to_string(s.dil_h) + "x" + std::to_string(s.dil_w) +
      (s.ceil_mode ? " ceil" : "") + (s.count_include_pad ? " cip" : "");
  const int64_t nx = s.N * s.C * s.H * s.W, ny = s.N * s.C * s.P() * s.Q();
  const auto x = random_vec<T>(nx, 5), dy = random_vec<T>(ny, 6);
  std::vector<T> y(ny), dx(nx, T(7));
  std::vector<int64_t> idx(ny);
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  if (s.dil_h == 1 && s.dil_w == 1) {
    k::avg_pool2d_forward(s, x.data(), y.data());
    k::avg_pool2d_backward(s, dy.data(), dx.data());
    expect_adjoint(dot(y, dy), dot(x, dx), tol, tag + " avg adjoint");
  }
  // max pool is linear in x once the indices are fixed: y = x[indices].
  std::fill(dx.begin(), dx.end(), T(7));
  k::max_pool2d_forward(s, x.data(), y.data(), idx.data());
  for (int64_t i = 0; i < ny; ++i) {
    const int64_t plane = i / (s.P() * s.Q());
    ASSERT_EQ(y[i], x[plane * s.H * s.W + idx[i]]) << tag << " max value/index mismatch at " << i;
  }
  k::max_pool2d_backward(s, dy.data(), idx.data(), dx.data());
  expect_adjoint(dot(y, dy), dot(x, dx), tol, tag + " max adjoint");
}

TEST(Pool, Adjoint) {
  for (const auto& s : kPoolCases) {
    check_pool_adjoint<double>(s);
    check_pool_adjoint<float>(s);
  }
}

}  // namespace
