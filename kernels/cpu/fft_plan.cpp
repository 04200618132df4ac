// The 1-D complex FFT engine (see fft_plan.h): plans, butterflies, passes, Bluestein.
#include "kernels/cpu/fft_plan.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <numbers>
#include <utility>
#include <vector>

namespace abbe::kernels::cpu::fft_detail {
namespace {

// exp(2 pi i r / n) in long double. The angle is reduced to [0, pi/4] by the symmetries of the
// circle, so multiples of pi/2 are exact (and +0.0, never -0.0) and symmetric roots are
// exactly symmetric.
Cx<long double> unit_root(int64_t r, int64_t n) {
  r %= n;
  if (r < 0) r += n;
  const int64_t quadrant = 4 * r / n;
  int64_t rem = 4 * r % n;  // the angle within the quadrant is (pi/2) rem / n
  const bool swap = 2 * rem > n;
  if (swap) rem = n - rem;
  const long double a = std::numbers::pi_v<long double> / 2 * static_cast<long double>(rem) / n;
  long double c = std::cos(a), s = std::sin(a);
  if (swap) std::swap(c, s);
  Cx<long double> z;
  switch (quadrant) {
    case 0: z = {c, s}; break;
    case 1: z = {-s, c}; break;
    case 2: z = {-c, -s}; break;
    default: z = {s, -c}; break;
  }
  return {z.r + 0.0L, z.i + 0.0L};
}

template <typename T, typename U>
Cx<T> cast(Cx<U> z) {
  return {static_cast<T>(z.r), static_cast<T>(z.i)};
}

// ---------------------------------------------------------------------------------------------
// Plans.

// n's factors in pass order: 4s, one 2 (moved to the front), then odd factors ascending.
std::vector<int64_t> factorize(int64_t n) {
  std::vector<int64_t> f;
  while (n % 4 == 0) f.push_back(4), n /= 4;
  if (n % 2 == 0) {
    f.push_back(2), n /= 2;
    std::swap(f.front(), f.back());
  }
  for (int64_t d = 3; d * d <= n; d += 2)
    while (n % d == 0) f.push_back(d), n /= d;
  if (n > 1) f.push_back(n);
  return f;
}

// Operation count of the mixed-radix plan, up to a constant (pocketfft's estimate): a radix-p
// pass costs about p per element, generic radices 10% more.
double mixed_radix_cost(int64_t n) {
  double per_element = 0;
  for (int64_t p : factorize(n)) per_element += p <= 5 ? (p == 4 ? 2.0 : static_cast<double>(p)) : 1.1 * p;
  return per_element * static_cast<double>(n);
}

int64_t bluestein_length(int64_t n) {
  int64_t m = 1;
  while (m < 2 * n - 1) m *= 2;
  return m;
}

// Bluestein costs two FFTs of length m >= 2n - 1 plus pointwise products (the 1.5).
bool use_bluestein(int64_t n) {
  if (n < 50) return false;
  const std::vector<int64_t> f = factorize(n);
  const int64_t largest = *std::max_element(f.begin(), f.end());
  if (largest * largest <= n) return false;
  return 2 * 1.5 * mixed_radix_cost(bluestein_length(n)) < mixed_radix_cost(n);
}

// The plan of length n, built on first use and kept for the process.
template <typename P>
const P& cached(int64_t n) {
  static std::mutex mu;
  static auto* cache = new std::map<int64_t, std::unique_ptr<const P>>();  // never destroyed: used until exit
  {
    const std::lock_guard<std::mutex> lock(mu);
    if (auto it = cache->find(n); it != cache->end()) return *it->second;
  }
  // Built outside the lock: a Bluestein plan builds its sub-plans through here.
  auto built = std::make_unique<const P>(n);
  const std::lock_guard<std::mutex> lock(mu);
  return *cache->try_emplace(n, std::move(built)).first->second;
}

// ---------------------------------------------------------------------------------------------
// Butterflies on V lanes. Inputs a + q as (q < P), outputs b + j bs (j < P), strides in T. With
// Tw, output j >= 1 is multiplied by w[j-1] (forward) or conj(w[j-1]) (inverse).

// (re, im) = x * w, x * conj(w) for Inv, or x without Tw.
template <bool Inv, bool Tw, typename T>
inline void put(T& re, T& im, T xr, T xi, Cx<T> w) {
  if constexpr (Tw) {
    const T wi = Inv ? -w.i : w.i;
    re = xr * w.r - xi * wi;
    im = xr * wi + xi * w.r;
  } else {
    re = xr, im = xi;
  }
}

template <int V, bool Inv, bool Tw, typename T>
inline void bfly2(const T* __restrict a, int64_t as, T* __restrict b, int64_t bs, const Cx<T>* w) {
  const Cx<T> w1 = Tw ? w[0] : Cx<T>{1, 0};
  const T *a0 = a, *a1 = a + as;
  T *b0 = b, *b1 = b + bs;
  ABBE_FFT_LANES
  for (int v = 0; v < V; ++v) {
    b0[v] = a0[v] + a1[v], b0[V + v] = a0[V + v] + a1[V + v];
    put<Inv, Tw>(b1[v], b1[V + v], a0[v] - a1[v], a0[V + v] - a1[V + v], w1);
  }
}

template <int V, bool Inv, bool Tw, typename T>
inline void bfly3(const T* __restrict a, int64_t as, T* __restrict b, int64_t bs, const Cx<T>* w) {
  constexpr T s = static_cast<T>(0.866025403784438646763723170752936183L);  // sin(2 pi / 3)
  const Cx<T> w1 = Tw ? w[0] : Cx<T>{1, 0}, w2 = Tw ? w[1] : Cx<T>{1, 0};
  const T *a0 = a, *a1 = a + as, *a2 = a + 2 * as;
  T *b0 = b, *b1 = b + bs, *b2 = b + 2 * bs;
  ABBE_FFT_LANES
  for (int v = 0; v < V; ++v) {
    const T tr = a1[v] + a2[v], ti = a1[V + v] + a2[V + v];
    const T dr = s * (a1[v] - a2[v]), di = s * (a1[V + v] - a2[V + v]);
    const T mr = a0[v] - T(0.5) * tr, mi = a0[V + v] - T(0.5) * ti;
    b0[v] = a0[v] + tr, b0[V + v] = a0[V + v] + ti;
    // forward: b1 = m - i d, b2 = m + i d
    const T pr = mr + di, pi = mi - dr, qr = mr - di, qi = mi + dr;
    put<Inv, Tw>(b1[v], b1[V + v], Inv ? qr : pr, Inv ? qi : pi, w1);
    put<Inv, Tw>(b2[v], b2[V + v], Inv ? pr : qr, Inv ? pi : qi, w2);
  }
}

template <int V, bool Inv, bool Tw, typename T>
inline void bfly4(const T* __restrict a, int64_t as, T* __restrict b, int64_t bs, const Cx<T>* w) {
  const Cx<T> w1 = Tw ? w[0] : Cx<T>{1, 0}, w2 = Tw ? w[1] : Cx<T>{1, 0}, w3 = Tw ? w[2] : Cx<T>{1, 0};
  const T *a0 = a, *a1 = a + as, *a2 = a + 2 * as, *a3 = a + 3 * as;
  T *b0 = b, *b1 = b + bs, *b2 = b + 2 * bs, *b3 = b + 3 * bs;
  ABBE_FFT_LANES
  for (int v = 0; v < V; ++v) {
    const T t1r = a0[v] + a2[v], t1i = a0[V + v] + a2[V + v];
    const T t2r = a0[v] - a2[v], t2i = a0[V + v] - a2[V + v];
    const T t3r = a1[v] + a3[v], t3i = a1[V + v] + a3[V + v];
    const T t4r = a1[v] - a3[v], t4i = a1[V + v] - a3[V + v];
    b0[v] = t1r + t3r, b0[V + v] = t1i + t3i;
    // forward: b1 = t2 - i t4, b3 = t2 + i t4
    const T pr = t2r + t4i, pi = t2i - t4r, qr = t2r - t4i, qi = t2i + t4r;
    put<Inv, Tw>(b1[v], b1[V + v], Inv ? qr : pr, Inv ? qi : pi, w1);
    put<Inv, Tw>(b2[v], b2[V + v], t1r - t3r, t1i - t3i, w2);
    put<Inv, Tw>(b3[v], b3[V + v], Inv ? pr : qr, Inv ? pi : qi, w3);
  }
}

template <int V, bool Inv, bool Tw, typename T>
inline void bfly5(const T* __restrict a, int64_t as, T* __restrict b, int64_t bs, const Cx<T>* w) {
  constexpr T c1 = static_cast<T>(0.309016994374947424102293417182819059L);   // cos(2 pi / 5)
  constexpr T c2 = static_cast<T>(-0.809016994374947424102293417182819059L);  // cos(4 pi / 5)
  constexpr T s1 = static_cast<T>(0.951056516295153572116439333379382143L);   // sin(2 pi / 5)
  constexpr T s2 = static_cast<T>(0.587785252292473129168705954639072769L);   // sin(4 pi / 5)
  Cx<T> wj[4] = {{1, 0}, {1, 0}, {1, 0}, {1, 0}};
  if constexpr (Tw)
    for (int j = 0; j < 4; ++j) wj[j] = w[j];
  const T *a0 = a, *a1 = a + as, *a2 = a + 2 * as, *a3 = a + 3 * as, *a4 = a + 4 * as;
  T *b0 = b, *b1 = b + bs, *b2 = b + 2 * bs, *b3 = b + 3 * bs, *b4 = b + 4 * bs;
  ABBE_FFT_LANES
  for (int v = 0; v < V; ++v) {
    const T t1r = a1[v] + a4[v], t1i = a1[V + v] + a4[V + v], d1r = a1[v] - a4[v], d1i = a1[V + v] - a4[V + v];
    const T t2r = a2[v] + a3[v], t2i = a2[V + v] + a3[V + v], d2r = a2[v] - a3[v], d2i = a2[V + v] - a3[V + v];
    b0[v] = a0[v] + t1r + t2r, b0[V + v] = a0[V + v] + t1i + t2i;
    const T m1r = a0[v] + c1 * t1r + c2 * t2r, m1i = a0[V + v] + c1 * t1i + c2 * t2i;
    const T m2r = a0[v] + c2 * t1r + c1 * t2r, m2i = a0[V + v] + c2 * t1i + c1 * t2i;
    const T n1r = s1 * d1r + s2 * d2r, n1i = s1 * d1i + s2 * d2i;
    const T n2r = s2 * d1r - s1 * d2r, n2i = s2 * d1i - s1 * d2i;
    // forward: b1 = m1 - i n1, b4 = m1 + i n1, b2 = m2 - i n2, b3 = m2 + i n2
    const T p1r = m1r + n1i, p1i = m1i - n1r, q1r = m1r - n1i, q1i = m1i + n1r;
    const T p2r = m2r + n2i, p2i = m2i - n2r, q2r = m2r - n2i, q2i = m2i + n2r;
    put<Inv, Tw>(b1[v], b1[V + v], Inv ? q1r : p1r, Inv ? q1i : p1i, wj[0]);
    put<Inv, Tw>(b2[v], b2[V + v], Inv ? q2r : p2r, Inv ? q2i : p2i, wj[1]);
    put<Inv, Tw>(b3[v], b3[V + v], Inv ? p2r : q2r, Inv ? p2i : q2i, wj[2]);
    put<Inv, Tw>(b4[v], b4[V + v], Inv ? p1r : q1r, Inv ? p1i : q1i, wj[3]);
  }
}

// Odd radix P: pairs t_j = a_j + a_{P-j}, d_j = a_j - a_{P-j} (j <= h = (P-1)/2) in td, then
// b_u = a_0 + sum_j cos(2 pi uj/P) t_j -+ i sum_j sin(2 pi uj/P) d_j for b_u and b_{P-u}.
template <int V, bool Inv, bool Tw, typename T>
void bfly_generic(int P, const T* __restrict a, int64_t as, T* __restrict b, int64_t bs, const Cx<T>* w,
                  const Cx<T>* roots, T* __restrict td) {
  constexpr int64_t E = 2 * V;
  const int h = (P - 1) / 2;
  const T* a0 = a;
  ABBE_FFT_LANES
  for (int v = 0; v < E; ++v) b[v] = a0[v];
  for (int j = 1; j <= h; ++j) {
    const T *x = a + j * as, *y = a + (P - j) * as;
    T *t = td + E * (j - 1), *d = td + E * (h + j - 1);
    ABBE_FFT_LANES
    for (int v = 0; v < E; ++v) t[v] = x[v] + y[v], d[v] = x[v] - y[v], b[v] += t[v];
  }
  for (int u = 1; u <= h; ++u) {
    T mr[V], mi[V], nr[V], ni[V];
    ABBE_FFT_LANES
    for (int v = 0; v < V; ++v) mr[v] = a0[v], mi[v] = a0[V + v], nr[v] = 0, ni[v] = 0;
    for (int j = 1; j <= h; ++j) {
      const Cx<T> r = roots[static_cast<int64_t>(u) * j % P];  // (cos, -sin) of 2 pi uj / P
      const T *t = td + E * (j - 1), *d = td + E * (h + j - 1);
      ABBE_FFT_LANES
      for (int v = 0; v < V; ++v) {
        mr[v] += r.r * t[v], mi[v] += r.r * t[V + v];
        nr[v] -= r.i * d[v], ni[v] -= r.i * d[V + v];
      }
    }
    T *bu = b + u * bs, *bv = b + (P - u) * bs;
    const Cx<T> wu = Tw ? w[u - 1] : Cx<T>{1, 0}, wv = Tw ? w[P - u - 1] : Cx<T>{1, 0};
    ABBE_FFT_LANES
    for (int v = 0; v < V; ++v) {
      // forward: b_u = m - i n, b_{P-u} = m + i n
      const T pr = mr[v] + ni[v], pi = mi[v] - nr[v], qr = mr[v] - ni[v], qi = mi[v] + nr[v];
      put<Inv, Tw>(bu[v], bu[V + v], Inv ? qr : pr, Inv ? qi : pi, wu);
      put<Inv, Tw>(bv[v], bv[V + v], Inv ? pr : qr, Inv ? pi : qi, wv);
    }
  }
}

template <int V, bool Inv, int P, bool Tw, typename T>
inline void bfly(const T* a, int64_t as, T* b, int64_t bs, const Cx<T>* w) {
  if constexpr (P == 2) bfly2<V, Inv, Tw>(a, as, b, bs, w);
  if constexpr (P == 3) bfly3<V, Inv, Tw>(a, as, b, bs, w);
  if constexpr (P == 4) bfly4<V, Inv, Tw>(a, as, b, bs, w);
  if constexpr (P == 5) bfly5<V, Inv, Tw>(a, as, b, bs, w);
}

// One pass (see the top of the file); twiddles are 1 at i = 0.
template <int V, bool Inv, int P, typename T>
void radix_pass(int64_t l1, int64_t ido, const T* cc, T* ch, const Cx<T>* tw) {
  constexpr int64_t E = 2 * V;
  const int64_t as = E * ido, bs = E * ido * l1;
  for (int64_t k = 0; k < l1; ++k) {
    const T* a = cc + as * P * k;
    T* b = ch + E * ido * k;
    bfly<V, Inv, P, false>(a, as, b, bs, tw);
    for (int64_t i = 1; i < ido; ++i) bfly<V, Inv, P, true>(a + E * i, as, b + E * i, bs, tw + (i - 1) * (P - 1));
  }
}

template <int V, bool Inv, typename T>
void generic_pass(int P, int64_t l1, int64_t ido, const T* cc, T* ch, const Cx<T>* tw, const Cx<T>* roots,
                  T* td) {
  constexpr int64_t E = 2 * V;
  const int64_t as = E * ido, bs = E * ido * l1;
  for (int64_t k = 0; k < l1; ++k) {
    const T* a = cc + as * P * k;
    T* b = ch + E * ido * k;
    bfly_generic<V, Inv, false>(P, a, as, b, bs, tw, roots, td);
    for (int64_t i = 1; i < ido; ++i)
      bfly_generic<V, Inv, true>(P, a + E * i, as, b + E * i, bs, tw + (i - 1) * (P - 1), roots, td);
  }
}

// Bluestein: X_j = c_j sum_k (x_k c_k) conj(c_{j-k}), a cyclic convolution of length m done with
// two power-of-two FFTs; the inverse is conj(forward(conj x)).
template <int V, bool Inv, typename T>
void bluestein(const Plan<T>& p, T* a, T* s) {
  constexpr int64_t E = 2 * V;
  const int64_t n = p.n, m = p.m;
  T *u = s, *u2 = s + E * m;
  for (int64_t k = 0; k < n; ++k) {
    const Cx<T> c = p.chirp[k];
    const T* x = a + E * k;
    T* y = u + E * k;
    ABBE_FFT_LANES
    for (int v = 0; v < V; ++v) {
      const T xr = x[v], xi = Inv ? -x[V + v] : x[V + v];
      y[v] = xr * c.r - xi * c.i, y[V + v] = xr * c.i + xi * c.r;
    }
  }
  std::fill(u + E * n, u + E * m, T(0));
  T* r = run<V, false>(*p.sub, u, u2);
  for (int64_t k = 0; k < m; ++k) {
    const Cx<T> c = p.bspec[k];
    T* y = r + E * k;
    ABBE_FFT_LANES
    for (int v = 0; v < V; ++v) {
      const T yr = y[v], yi = y[V + v];
      y[v] = yr * c.r - yi * c.i, y[V + v] = yr * c.i + yi * c.r;
    }
  }
  r = run<V, true>(*p.sub, r, r == u ? u2 : u);
  for (int64_t k = 0; k < n; ++k) {
    const Cx<T> c = p.chirp[k];
    const T* y = r + E * k;
    T* x = a + E * k;
    ABBE_FFT_LANES
    for (int v = 0; v < V; ++v) {
      const T im = y[v] * c.i + y[V + v] * c.r;
      x[v] = y[v] * c.r - y[V + v] * c.i, x[V + v] = Inv ? -im : im;
    }
  }
}

}  // namespace

template <typename T>
Plan<T>::Plan(int64_t len) : n(len) {
  if (use_bluestein(n)) {
    m = bluestein_length(n);
    sub = &plan<T>(m);
    std::vector<double> b(2 * m, 0.0), scratch(2 * plan<double>(m).scratch());
    chirp.resize(n);
    for (int64_t k = 0; k < n; ++k) {
      const Cx<long double> w = unit_root(-(k * k % (2 * n)), 2 * n);
      chirp[k] = cast<T>(w);
      b[2 * k] = static_cast<double>(w.r), b[2 * k + 1] = -static_cast<double>(w.i);
      if (k > 0) b[2 * (m - k)] = b[2 * k], b[2 * (m - k) + 1] = b[2 * k + 1];
    }
    const double* spec = run<1, false>(plan<double>(m), b.data(), scratch.data());
    bspec.resize(m);
    for (int64_t k = 0; k < m; ++k) bspec[k] = {static_cast<T>(spec[2 * k] / m), static_cast<T>(spec[2 * k + 1] / m)};
    return;
  }
  int64_t l1 = 1;
  for (const int64_t p : factorize(n)) {
    const int64_t ido = n / (l1 * p);
    passes.push_back(
        {static_cast<int>(p), l1, ido, static_cast<int64_t>(tw.size()), static_cast<int64_t>(roots.size())});
    for (int64_t i = 1; i < ido; ++i)
      for (int64_t j = 1; j < p; ++j) tw.push_back(cast<T>(unit_root(-j * l1 * i, n)));
    if (p > 5) {
      for (int64_t q = 0; q < p; ++q) roots.push_back(cast<T>(unit_root(-q, p)));
      generic = std::max(generic, p);
    }
    l1 *= p;
  }
}

template <typename T>
RowPlan<T>::RowPlan(int64_t width) : W(width), n(width % 2 == 0 ? width / 2 : width), c(&plan<T>(n)) {
  if (W % 2 == 0)
    for (int64_t k = 0; k < n; ++k) w.push_back(cast<T>(unit_root(-k, W)));
}

template <typename T>
const Plan<T>& plan(int64_t n) {
  return cached<Plan<T>>(n);
}

template <typename T>
const RowPlan<T>& row_plan(int64_t W) {
  return cached<RowPlan<T>>(W);
}

template <int V, bool Inv, typename T>
T* run(const Plan<T>& p, T* a, T* s) {
  if (p.m) {
    bluestein<V, Inv>(p, a, s);
    return a;
  }
  T *in = a, *out = s;
  T* td = s + 2 * V * p.n;
  for (const auto& ps : p.passes) {
    const Cx<T>* tw = p.tw.data() + ps.tw;
    switch (ps.p) {
      case 2: radix_pass<V, Inv, 2>(ps.l1, ps.ido, in, out, tw); break;
      case 3: radix_pass<V, Inv, 3>(ps.l1, ps.ido, in, out, tw); break;
      case 4: radix_pass<V, Inv, 4>(ps.l1, ps.ido, in, out, tw); break;
      case 5: radix_pass<V, Inv, 5>(ps.l1, ps.ido, in, out, tw); break;
      default: generic_pass<V, Inv>(ps.p, ps.l1, ps.ido, in, out, tw, p.roots.data() + ps.roots, td); break;
    }
    std::swap(in, out);
  }
  return in;
}

template struct Plan<float>;
template struct Plan<double>;
template struct RowPlan<float>;
template struct RowPlan<double>;
template const Plan<float>& plan<float>(int64_t);
template const Plan<double>& plan<double>(int64_t);
template const RowPlan<float>& row_plan<float>(int64_t);
template const RowPlan<double>& row_plan<double>(int64_t);
#define ABBE_INSTANTIATE(V, T)                              \
  template T* run<V, false, T>(const Plan<T>&, T*, T*); \
  template T* run<V, true, T>(const Plan<T>&, T*, T*);
ABBE_INSTANTIATE(kLanes<float>, float)
ABBE_INSTANTIATE(kTailLanes<float>, float)
ABBE_INSTANTIATE(kLanes<double>, double)
ABBE_INSTANTIATE(kTailLanes<double>, double)
#undef ABBE_INSTANTIATE

}  // namespace abbe::kernels::cpu::fft_detail
