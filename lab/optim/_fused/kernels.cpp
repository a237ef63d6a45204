// Fused CPU steps for lab.optim's optimizers; lab/optim/_fused/__init__.py compiles this file.
//
// Each step is one loop over float32/float64 contiguous tensors that reads p, the
// gradient and the state once and writes them once. The loops of SGD, momentum, averaged
// momentum, RMSProp and Adam have exactly the arithmetic of the reference functions
// (sgd_update, ..., adam_update in lab/optim/updates.py) in the same order: one rounding per
// torch op, and torch.lerp's formula with its fused multiply-add. Where torch's own
// kernels round that way (x86 with AVX2 or AVX-512) they equal the reference bit for bit,
// except RMSProp's and Adam's parameter, which may differ in the last bit where torch's
// CPU sqrt (MKL) is not correctly rounded and std::sqrt is. SNR's loop rearranges snr_update's
// equations to fewer operations (see snr_loop): bit for bit during warm-up, equal up to
// round-off after it.
//
// Non-finite gradients and results (lab.optim's check_finite): with freeze, a coordinate
// keeps its parameter and state when its gradient is inf or NaN, when a new state value
// is, or when the new parameter is and the old one was finite; the step returns the count
// per tensor. The loop tests only the new values (a non-finite gradient always makes one
// of them non-finite, and so does a parameter that already was), and where a block kept
// any coordinate, a second pass over the block (settle) steps the coordinates whose
// parameter already was inf or NaN by the rule. No extra pass over memory in the common
// case, and no masked stores (see select).
// all_finite is the read-only check of check_finite="strict", run over every gradient
// before any step writes, so that a non-finite gradient changes nothing: a step cannot
// promise that by itself, since a NaN in its last block is found after the first blocks
// were written.

#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <vector>

namespace {

constexpr int64_t kBlock = 1 << 14;          // elements per block of work
constexpr int64_t kParallelMin = 1 << 15;    // fewer elements run on one thread

// a * b + c, rounded once where torch's vectorized lerp rounds once.
template <typename T>
inline T fmadd(T a, T b, T c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// torch.lerp(start, end, w) as ATen computes it (ATen/native/Lerp.h, lerp_vec).
template <typename T>
inline T lerp(T start, T end, T w) {
  const bool small = std::abs(w) < T(0.5);
  return fmadd(small ? w : w - T(1), end - start, small ? start : end);
}

// torch.clamp_min / clamp_max: NaN stays NaN.
template <typename T>
inline T clamp_min(T x, T lo) { return x < lo ? lo : x; }
template <typename T>
inline T clamp_max(T x, T hi) { return x > hi ? hi : x; }

// Whether x is inf or NaN (x - x is NaN exactly then; kept under -fno-trapping-math,
// which still honours NaN).
template <typename T>
inline bool non_finite(T x) { return x - x != T(0); }

// Whether any of the values is inf or NaN, in one multiply-add per value: x * 0 is NaN
// exactly for inf and NaN (else a zero), and adding zeros is exact.
template <typename T>
inline T zero_or_nan(T x) { return x * T(0); }
template <typename T, typename... Rest>
inline T zero_or_nan(T x, Rest... rest) { return fmadd(x, T(0), zero_or_nan(rest...)); }
template <typename T, typename... Rest>
inline bool any_non_finite(T x, Rest... rest) { return zero_or_nan(x, rest...) != T(0); }

// The second half of a checked loop (see the top of the file). The loop keeps every
// coordinate whose new parameter or new state is inf or NaN, which is the rule except
// where the parameter already was inf or NaN: there the rule keeps the coordinate only
// for a non-finite gradient or new state. Those coordinates hold their old values still
// (and only they have a non-finite parameter after the loop), so redo(i) steps such a
// coordinate by the rule and returns 1 where it now took the step. Runs only for a block
// that kept something, which is rare.
template <typename T, typename Redo>
int32_t settle(const T* p, int64_t n, int32_t frozen, const Redo& redo) {
  for (int64_t i = 0; i < n; ++i) {
    if (non_finite(p[i])) frozen -= redo(i);
  }
  return frozen;
}

// keep ? old_value : new_value, on the bits. Written as a plain select, GCC turns a store
// of `keep ? x[i] : new` into a masked store of `new` (vmaskmovps on AVX2), which is
// microcoded and several times slower than the whole loop on AMD processors; the blend on
// integer bits keeps every store a plain vector store.
template <typename T>
inline T select(bool keep, T old_value, T new_value) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  U a, b;
  std::memcpy(&a, &old_value, sizeof(U));
  std::memcpy(&b, &new_value, sizeof(U));
  const U mask = U(0) - U(keep);
  const U bits = (a & mask) | (b & ~mask);
  T out;
  std::memcpy(&out, &bits, sizeof(U));
  return out;
}

// True when no element has the all-ones exponent of inf and NaN. Adding the exponent's
// lowest bit carries into the sign bit exactly for that exponent; integer ops vectorize.
template <typename T, typename U>
bool finite_loop(const T* x, int64_t n) {
  constexpr int bits = std::numeric_limits<T>::digits - 1;  // stored mantissa bits
  constexpr U exponent = (~U(0) >> 1) & ~((U(1) << bits) - 1);
  U acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    U u;
    std::memcpy(&u, x + i, sizeof(U));
    acc |= (u & exponent) + (U(1) << bits);
  }
  return !(acc >> (8 * sizeof(U) - 1));
}

// Per-tensor counts added to from parallel blocks.
class Counts {
 public:
  explicit Counts(size_t n) : counts_(n) {}
  void add(int64_t i, int64_t k) {
    if (k) counts_[i].fetch_add(k, std::memory_order_relaxed);
  }
  std::vector<int64_t> values() const {
    std::vector<int64_t> out;
    for (const auto& c : counts_) out.push_back(c.load());
    return out;
  }

 private:
  std::vector<std::atomic<int64_t>> counts_;
};

template <typename T>
T* ptr(const at::Tensor& t) { return static_cast<T*>(t.data_ptr()); }

// Runs f(tensor index, begin, end) over blocks of at most kBlock elements covering
// `sizes`, in parallel when there is enough work.
template <typename F>
void for_each_block(const std::vector<int64_t>& sizes, const F& f) {
  struct Block { int64_t tensor, begin, end; };
  std::vector<Block> blocks;
  int64_t total = 0;
  for (int64_t i = 0; i < static_cast<int64_t>(sizes.size()); ++i) {
    for (int64_t b = 0; b < sizes[i]; b += kBlock) {
      blocks.push_back({i, b, std::min(sizes[i], b + kBlock)});
    }
    total += sizes[i];
  }
  const int64_t n = blocks.size();
  at::parallel_for(0, n, total < kParallelMin ? n : 1, [&](int64_t first, int64_t last) {
    for (int64_t k = first; k < last; ++k) f(blocks[k].tensor, blocks[k].begin, blocks[k].end);
  });
}

// A step's operands: one list per argument, one tensor per parameter, every tensor
// contiguous (a non-contiguous one, rare, is replaced by a contiguous copy that
// write_back copies into it after the step).
struct Operands {
  std::vector<std::vector<at::Tensor>> lists;
  std::vector<int64_t> sizes;
  at::ScalarType dtype = at::kFloat;

  Operands(std::initializer_list<at::TensorList> args) {
    const at::TensorList params = *args.begin();
    for (const auto& list : args) {
      TORCH_CHECK(list.size() == params.size(), "lab fused step: one tensor per parameter");
      auto& out = lists.emplace_back();
      for (size_t i = 0; i < list.size(); ++i) {
        const at::Tensor& t = list[i];
        TORCH_CHECK(t.device().is_cpu() && t.sizes() == params[i].sizes() &&
                        t.scalar_type() == params[0].scalar_type() &&
                        (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble),
                    "lab fused step: float32/float64 CPU tensors of one dtype, each shaped "
                    "like its parameter");
        out.push_back(t.contiguous());
      }
    }
    for (const auto& p : lists[0]) sizes.push_back(p.numel());
    if (!params.empty()) dtype = params[0].scalar_type();
  }

  template <typename T>
  T* data(size_t list, size_t i) const { return static_cast<T*>(lists[list][i].data_ptr()); }

  void write_back(size_t list, at::TensorList originals) const {
    for (size_t i = 0; i < originals.size(); ++i) {
      if (!originals[i].is_same(lists[list][i])) originals[i].copy_(lists[list][i]);
    }
  }
};

// SGD, momentum, averaged momentum, RMSProp -----------------------------------------------

// The reference functions of lab/optim/updates.py op for op. Each *_one computes one
// coordinate's new parameter and state from the old; each loop, with kFreeze, keeps a
// coordinate whose new parameter or new state is inf or NaN (a non-finite gradient always
// gives one), then settles the coordinates whose parameter already was (settle). Each
// loop returns how many coordinates kept their values.

// sgd_update: p -= lr * g.
template <typename T>
inline T sgd_one(T p, T g, T lr) { return p - lr * g; }

template <typename T, bool kFreeze>
int32_t sgd_loop(T* p, const T* g, int64_t n, T lr) {
  int32_t frozen = 0;  // a block has at most kBlock elements
  for (int64_t i = 0; i < n; ++i) {
    const T pi = p[i];
    const T stepped = sgd_one(pi, g[i], lr);
    // A non-finite gradient gives a non-finite step (lr * inf is inf, or NaN for lr = 0).
    const bool keep = kFreeze & any_non_finite(stepped);
    frozen += keep;
    p[i] = keep ? pi : stepped;  // a float blend here (see select)
  }
  if (!(kFreeze && frozen)) return frozen;
  return settle(p, n, frozen, [&](int64_t i) {
    if (non_finite(g[i])) return 0;
    p[i] = sgd_one(p[i], g[i], lr);
    return 1;
  });
}

// A new parameter and one new state value.
template <typename T>
struct Stepped1 { T p, a; };

// momentum_update: v = v * (1 - 1/N) + lr * g; p -= v.
template <typename T>
inline Stepped1<T> momentum_one(T p, T g, T v, T lr, T decay) {
  const T vn = v * decay + lr * g;
  return {p - vn, vn};
}

// averaged_momentum_update: mu = lerp(mu, g, 1/N); p -= lr * mu.
template <typename T>
inline Stepped1<T> averaged_momentum_one(T p, T g, T mu, T lr, T w) {
  const T m = lerp(mu, g, w);
  return {p - lr * m, m};
}

// rmsprop_update: s = lerp(s, g*g, 1/N_s); p -= lr * (g / max(sqrt(s + eps), tiny)).
template <typename T>
inline Stepped1<T> rmsprop_one(T p, T g, T s, T lr, T w, T eps) {
  const T v = lerp(s, g * g, w);
  return {p - lr * (g / clamp_min(std::sqrt(v + eps), std::numeric_limits<T>::min())), v};
}

// The loop of an optimizer with one state tensor; one(p, g, state) is its *_one.
// kStateInStep: a non-finite new state always makes the new parameter non-finite (momentum:
// p - inf; averaged momentum: lr * inf), so the loop tests the parameter only; RMSProp's
// inf state gives a step of 0 and is tested too.
template <typename T, bool kFreeze, bool kStateInStep, typename One>
int32_t one_state_loop(T* p, const T* g, T* state, int64_t n, const One& one) {
  int32_t frozen = 0;  // a block has at most kBlock elements
  for (int64_t i = 0; i < n; ++i) {
    const T pi = p[i], si = state[i];
    const Stepped1<T> x = one(pi, g[i], si);
    const bool keep =
        kFreeze & (kStateInStep ? any_non_finite(x.p) : any_non_finite(x.p, x.a));
    frozen += keep;
    state[i] = select(keep, si, x.a);
    p[i] = select(keep, pi, x.p);
  }
  if (!(kFreeze && frozen)) return frozen;
  return settle(p, n, frozen, [&](int64_t i) {
    const Stepped1<T> x = one(p[i], g[i], state[i]);
    if (non_finite(g[i]) | non_finite(x.a)) return 0;
    state[i] = x.a;
    p[i] = x.p;
    return 1;
  });
}

// The four optimizers that share simple_step_t, named at compile time.
enum class Simple { kSgd, kMomentum, kAveragedMomentum, kRmsprop };

template <typename T, bool kFreeze, Simple kKind>
std::vector<int64_t> simple_step_t(const Operands& x, double lr, double a, double b) {
  Counts frozen(x.sizes.size());
  for_each_block(x.sizes, [&](int64_t i, int64_t begin, int64_t end) {
    T* p = x.data<T>(0, i) + begin;
    const T* g = x.data<T>(1, i) + begin;
    const int64_t n = end - begin;
    int32_t k = 0;
    if constexpr (kKind == Simple::kSgd) {
      k = sgd_loop<T, kFreeze>(p, g, n, T(lr));
    } else {
      T* state = x.data<T>(2, i) + begin;
      const T lr_ = T(lr), a_ = T(a), b_ = T(b);
      if constexpr (kKind == Simple::kMomentum) {
        k = one_state_loop<T, kFreeze, true>(p, g, state, n, [&](T pi, T gi, T si) {
          return momentum_one(pi, gi, si, lr_, a_);
        });
      } else if constexpr (kKind == Simple::kAveragedMomentum) {
        k = one_state_loop<T, kFreeze, true>(p, g, state, n, [&](T pi, T gi, T si) {
          return averaged_momentum_one(pi, gi, si, lr_, a_);
        });
      } else {
        k = one_state_loop<T, kFreeze, false>(p, g, state, n, [&](T pi, T gi, T si) {
          return rmsprop_one(pi, gi, si, lr_, a_, b_);
        });
      }
    }
    frozen.add(i, k);
  });
  return frozen.values();
}

template <Simple kKind>
std::vector<int64_t> simple_step(at::TensorList params, at::TensorList grads,
                                 at::TensorList state, double lr, double a, double b,
                                 bool freeze) {
  constexpr bool kStateless = kKind == Simple::kSgd;
  const Operands x = kStateless ? Operands{params, grads} : Operands{params, grads, state};
  const bool f32 = x.dtype == at::kFloat;
  const auto frozen = f32 ? (freeze ? simple_step_t<float, true, kKind>(x, lr, a, b)
                                    : simple_step_t<float, false, kKind>(x, lr, a, b))
                          : (freeze ? simple_step_t<double, true, kKind>(x, lr, a, b)
                                    : simple_step_t<double, false, kKind>(x, lr, a, b));
  x.write_back(0, params);
  if (!kStateless) x.write_back(2, state);
  return frozen;
}

// sgd_update
std::vector<int64_t> sgd_step(at::TensorList params, at::TensorList grads, double lr,
                              bool freeze) {
  return simple_step<Simple::kSgd>(params, grads, {}, lr, 0.0, 0.0, freeze);
}

// momentum_update, decay = 1 - 1/N
std::vector<int64_t> momentum_step(at::TensorList params, at::TensorList grads,
                                   at::TensorList v, double lr, double decay, bool freeze) {
  return simple_step<Simple::kMomentum>(params, grads, v, lr, decay, 0.0, freeze);
}

// averaged_momentum_update, weight = 1/N
std::vector<int64_t> averaged_momentum_step(at::TensorList params, at::TensorList grads,
                                            at::TensorList mu, double lr, double weight,
                                            bool freeze) {
  return simple_step<Simple::kAveragedMomentum>(params, grads, mu, lr, weight, 0.0, freeze);
}

// rmsprop_update, weight = 1/N_s
std::vector<int64_t> rmsprop_step(at::TensorList params, at::TensorList grads,
                                  at::TensorList s, double lr, double weight, double eps,
                                  bool freeze) {
  return simple_step<Simple::kRmsprop>(params, grads, s, lr, weight, eps, freeze);
}

// Adam ---------------------------------------------------------------------------------

// A new parameter and two new state values.
template <typename T>
struct Stepped2 { T p, a, b; };

// adam_update: mu = lerp(mu, g, w_g); s = lerp(s, g*g, w_s);
// p -= lr * (mu / max(sqrt(s) + eps, tiny)).
template <typename T>
inline Stepped2<T> adam_one(T p, T g, T mu, T s, T lr, T w_g, T w_s, T eps) {
  const T m = lerp(mu, g, w_g);
  const T v = lerp(s, g * g, w_s);
  return {p - lr * (m / clamp_min(std::sqrt(v) + eps, std::numeric_limits<T>::min())), m,
          v};
}

// With kFreeze, keeps a coordinate whose new p or s is inf or NaN (a non-finite mu gives a
// non-finite p; an inf s gives a step of 0), then settles (see one_state_loop).
template <typename T, bool kFreeze>
int64_t adam_loop(T* p, const T* g, T* mu, T* s, int64_t n, T lr, T w_g, T w_s, T eps) {
  int32_t frozen = 0;  // a block has at most kBlock elements
  for (int64_t i = 0; i < n; ++i) {
    const T mi = mu[i], si = s[i], pi = p[i];
    const Stepped2<T> x = adam_one(pi, g[i], mi, si, lr, w_g, w_s, eps);
    const bool keep = kFreeze & any_non_finite(x.p, x.b);
    frozen += keep;
    mu[i] = select(keep, mi, x.a);
    s[i] = select(keep, si, x.b);
    p[i] = select(keep, pi, x.p);
  }
  if (!(kFreeze && frozen)) return frozen;
  return settle(p, n, frozen, [&](int64_t i) {
    const Stepped2<T> x = adam_one(p[i], g[i], mu[i], s[i], lr, w_g, w_s, eps);
    if (non_finite(g[i]) | non_finite(x.a) | non_finite(x.b)) return 0;
    mu[i] = x.a;
    s[i] = x.b;
    p[i] = x.p;
    return 1;
  });
}

template <typename T, bool kFreeze>
std::vector<int64_t> adam_step_t(const Operands& x, double lr, double w_g, double w_s,
                                 double eps) {
  Counts frozen(x.sizes.size());
  for_each_block(x.sizes, [&](int64_t i, int64_t b, int64_t e) {
    frozen.add(i, adam_loop<T, kFreeze>(x.data<T>(0, i) + b, x.data<T>(1, i) + b,
                                        x.data<T>(2, i) + b, x.data<T>(3, i) + b, e - b,
                                        T(lr), T(w_g), T(w_s), T(eps)));
  });
  return frozen.values();
}

std::vector<int64_t> adam_step(at::TensorList params, at::TensorList grads, at::TensorList mu,
                               at::TensorList s, double lr, double w_g, double w_s,
                               double eps, bool freeze) {
  const Operands x{params, grads, mu, s};
  const bool f32 = x.dtype == at::kFloat;
  const auto frozen = f32 ? (freeze ? adam_step_t<float, true>(x, lr, w_g, w_s, eps)
                                    : adam_step_t<float, false>(x, lr, w_g, w_s, eps))
                          : (freeze ? adam_step_t<double, true>(x, lr, w_g, w_s, eps)
                                    : adam_step_t<double, false>(x, lr, w_g, w_s, eps));
  x.write_back(0, params);
  x.write_back(2, mu);
  x.write_back(3, s);
  return frozen;
}

// SNR ----------------------------------------------------------------------------------

struct SnrHyper {
  double warm_weight;  // the warm-up weight min(1, B/K), or < 0: the per-coordinate weight
  bool update_params;  // t > K
  double batch_size, lambda_B, lambda_eta, eps, eta_max, lr;
  double variance_scale;  // B for second_moment="batch", 1 for "examples"
};

// snr_update for the t-th gradient; sq is the per-example mean of squares or null (g*g).
//
// The reference's equations rearranged to fewer operations (the loop is bound by
// arithmetic, not memory, when written op for op), so equal to it up to round-off:
// with v = s~ - g~^2 and the constants c_w = lambda_B scale / B, c_eta = scale / lambda_eta,
//   w   = min((g~^2 + eps) / max(c_w v, tiny), 1)       [= min(1, B/B*)]
//   eta = min(g~'^2 / max(c_eta v', tiny), eta_max)      [= min(lambda_eta g~'^2/sigma~'^2, eta_max)]
// (v <= 0 gives tiny, as the reference's clip of sigma~^2 at 0 does), and the averages
// move as g~ + w (g - g~), except at the capped weight w = 1, where they restart from the
// newest gradient exactly (so v' = 0 there, as in the reference's lerp). snr_one computes
// one coordinate; with kFreeze, snr_loop keeps a coordinate whose new p, g~ or s~ is inf or
// NaN (a non-finite g or sq always gives one), then settles (see one_state_loop).

// SnrHyper in the loop's type, read once before the loop.
template <typename T>
struct SnrConstants {
  T warm, eps, eta_max, lr, c_w, c_eta;
  explicit SnrConstants(const SnrHyper& h)
      : warm(h.warm_weight),
        eps(h.eps),
        eta_max(h.eta_max),
        lr(h.lr),
        c_w(h.lambda_B * h.variance_scale / h.batch_size),
        c_eta(h.variance_scale / h.lambda_eta) {}
};

template <typename T, bool kWarm, bool kUpdate>
inline Stepped2<T> snr_one(T p, T g, T gt, T st, T sq, const SnrConstants<T>& c) {
  const T tiny = std::numeric_limits<T>::min();
  T g_tilde, s_tilde;
  if (kWarm) {  // the reference's lerp with the one warm-up weight: bit for bit
    g_tilde = lerp(gt, g, c.warm);
    s_tilde = lerp(st, sq, c.warm);
  } else {
    const T a = gt * gt;
    const T w = clamp_max((a + c.eps) / clamp_min(c.c_w * (st - a), tiny), T(1));
    const bool restart = w == T(1);
    g_tilde = restart ? g : fmadd(w, g - gt, gt);
    s_tilde = restart ? sq : fmadd(w, sq - st, st);
  }
  if (!kUpdate) return {p, g_tilde, s_tilde};
  const T a = g_tilde * g_tilde;
  const T eta = clamp_max(a / clamp_min(c.c_eta * (s_tilde - a), tiny), c.eta_max);
  return {p - c.lr * (eta * g), g_tilde, s_tilde};
}

// Coordinate i, kept by a loop and so still holding its old values, stepped by the rule
// (see the top of the file); returns 1 where it took the step, 0 where it stays kept.
template <typename T, bool kWarm, bool kSq, bool kUpdate>
int snr_by_the_rule(int64_t i, T* p, const T* g, T* gt, T* st, const T* sq,
                    const SnrConstants<T>& c) {
  const T gi = g[i], sqi = kSq ? sq[i] : gi * gi, pi = kUpdate ? p[i] : T(0);
  const Stepped2<T> x = snr_one<T, kWarm, kUpdate>(pi, gi, gt[i], st[i], sqi, c);
  const bool keep = non_finite(gi) | non_finite(sqi) | non_finite(x.a) | non_finite(x.b) |
                    (kUpdate && non_finite(x.p) && !non_finite(pi));
  if (keep) return 0;
  gt[i] = x.a;
  st[i] = x.b;
  if (kUpdate) p[i] = x.p;
  return 1;
}

template <typename T, bool kWarm, bool kSq, bool kUpdate, bool kFreeze>
int64_t snr_loop(T* p, const T* g, T* gt, T* st, const T* sq, int64_t n, const SnrHyper& h) {
  const SnrConstants<T> c(h);
  // sq is g*g (not read) in "batch" mode; a non-finite one shows in s~ then.
  const auto one = [&](int64_t i, T pi, T gti, T sti) {
    const T gi = g[i];
    return snr_one<T, kWarm, kUpdate>(pi, gi, gti, sti, kSq ? sq[i] : gi * gi, c);
  };
  int32_t frozen = 0;  // a block has at most kBlock elements
  for (int64_t i = 0; i < n; ++i) {
    const T gti = gt[i], sti = st[i];
    const T pi = kUpdate ? p[i] : T(0);
    const Stepped2<T> x = one(i, pi, gti, sti);
    const bool keep =
        kFreeze & (kUpdate ? any_non_finite(x.p, x.a, x.b) : any_non_finite(x.a, x.b));
    frozen += keep;
    gt[i] = select(keep, gti, x.a);
    st[i] = select(keep, sti, x.b);
    if (kUpdate) p[i] = select(keep, pi, x.p);
  }
  if (!(kUpdate && kFreeze && frozen)) return frozen;
  return settle(p, n, frozen, [&](int64_t i) {
    return snr_by_the_rule<T, kWarm, kSq, kUpdate>(i, p, g, gt, st, sq, c);
  });
}

// An SNR step's counts and the largest |g| and |sq| it read (sq = g*g in "batch" mode;
// +inf where one was inf or NaN; NaN where the step did not read them).
struct SnrResult {
  std::vector<int64_t> frozen;
  double g_max, sq_max;
};

// Per coordinate, the largest |g| (and, with grad_sq, the largest |sq|) for which snr_one
// keeps every value finite, given the state's bounds |g~| <= Mg, |s~| <= Ms: g - g~ and
// sq - s~ stay finite, w lies in [0, 1] (an inf g~^2 gives the capped weight 1), eta in
// [0, eta_max], and the step lr eta |g| stays below half an ulp of the largest number, so a
// finite parameter stays finite (the limits of lab.optim._base, with the same sixteenth).
// Negative where no gradient is safe (bounds unknown, inf, or too large).
struct SnrSafe {
  double g, sq;
};

template <typename T>
SnrSafe snr_safe(double Mg, double Ms, bool grad_sq, const SnrHyper& h) {
  if (!(std::isfinite(Mg) && std::isfinite(Ms))) return {-1.0, -1.0};
  const double big = static_cast<double>(std::numeric_limits<T>::max()) / 16;
  const double ulp = big * std::numeric_limits<T>::epsilon();
  const double sq = big - Ms;
  // lr = 0 gives ulp / 0 = inf: no bound from the step.
  double g = std::min({big - Mg, big / h.eta_max, ulp / (h.lr * h.eta_max)});
  if (!grad_sq) g = std::min(g, std::sqrt(std::max(sq, 0.0)));  // sq is g*g
  return {g, sq};
}

// The bits of |x| as a signed integer: for x >= 0 integer order is value order, and inf
// and NaN lie above every finite number.
template <typename T>
using Magnitude = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;

template <typename T>
inline Magnitude<T> magnitude(T x) {
  Magnitude<T> u;
  std::memcpy(&u, &x, sizeof(u));
  return u & std::numeric_limits<Magnitude<T>>::max();
}

// The magnitude of the largest T at most `limit` (limit >= 0), so that |x| <= limit reads
// magnitude(x) <= this; inf and NaN are above it.
template <typename T>
Magnitude<T> magnitude_limit(double limit) {
  T t = static_cast<T>(std::min(limit, static_cast<double>(std::numeric_limits<T>::max())));
  if (static_cast<double>(t) > limit) t = std::nextafter(t, T(0));
  return magnitude(t);
}

template <typename T>
double from_magnitude(Magnitude<T> m) {
  const Magnitude<T> inf = magnitude(std::numeric_limits<T>::infinity());
  if (m >= inf) return std::numeric_limits<double>::infinity();  // inf or NaN
  T x;
  std::memcpy(&x, &m, sizeof(m));
  return static_cast<double>(x);
}

// SNR's checked loop where the state's bounds are known (see snr_step_t): a coordinate is
// kept where its |g| (or |sq|) exceeds the safe limit, a test on the gradient alone, which
// costs less than testing the new values in this loop bound by arithmetic; then, in a
// block that kept any, each kept coordinate (its gradient tells which, and it still holds
// its old values) takes the rule's verdict. Returns the count kept; g_max, sq_max: the
// largest magnitudes read.
template <typename T, bool kWarm, bool kSq, bool kUpdate>
int64_t snr_bounded_loop(T* p, const T* g, T* gt, T* st, const T* sq, int64_t n,
                         const SnrHyper& h, Magnitude<T> g_safe, Magnitude<T> sq_safe,
                         Magnitude<T>& g_max, Magnitude<T>& sq_max) {
  const SnrConstants<T> c(h);
  const auto unsafe = [&](int64_t i) {
    return (magnitude(g[i]) > g_safe) | (kSq && magnitude(sq[i]) > sq_safe);
  };
  Magnitude<T> gm = 0, sm = 0;
  int32_t frozen = 0;  // a block has at most kBlock elements
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], gti = gt[i], sti = st[i];
    const T sqi = kSq ? sq[i] : gi * gi;
    const Magnitude<T> ag = magnitude(gi);
    gm = std::max(gm, ag);
    bool keep = ag > g_safe;
    if constexpr (kSq) {
      const Magnitude<T> as = magnitude(sqi);
      sm = std::max(sm, as);
      keep |= as > sq_safe;
    }
    const T pi = kUpdate ? p[i] : T(0);
    const Stepped2<T> x = snr_one<T, kWarm, kUpdate>(pi, gi, gti, sti, sqi, c);
    frozen += keep;
    gt[i] = select(keep, gti, x.a);
    st[i] = select(keep, sti, x.b);
    if (kUpdate) p[i] = select(keep, pi, x.p);
  }
  g_max = std::max(g_max, gm);
  sq_max = std::max(sq_max, sm);
  if (!frozen) return 0;
  for (int64_t i = 0; i < n; ++i) {
    if (unsafe(i)) frozen -= snr_by_the_rule<T, kWarm, kSq, kUpdate>(i, p, g, gt, st, sq, c);
  }
  return frozen;
}

// With kFreeze and the state's bounds Mg, Ms (lab.optim._base keeps them; +inf where
// unknown): where the bounds leave room (snr_safe), the bounded loop, which also reads
// the largest |g| and |sq| for the bounds after the step; else the checked loop (and NaN
// for the largest magnitudes: the caller reads the state's bounds afresh).
template <typename T, bool kWarm, bool kSq, bool kUpdate, bool kFreeze>
SnrResult snr_step_t(const Operands& x, const SnrHyper& h, double Mg, double Ms) {
  Counts frozen(x.sizes.size());
  const SnrSafe safe = snr_safe<T>(Mg, Ms, kSq, h);
  const bool bounded = kFreeze && safe.g >= 0 && safe.sq >= 0;
  const Magnitude<T> g_safe = bounded ? magnitude_limit<T>(safe.g) : 0;
  const Magnitude<T> sq_safe = bounded ? magnitude_limit<T>(safe.sq) : 0;
  std::mutex lock;
  Magnitude<T> g_max = 0, sq_max = 0;
  for_each_block(x.sizes, [&](int64_t i, int64_t b, int64_t e) {
    T* p = x.data<T>(0, i) + b;
    const T* g = x.data<T>(1, i) + b;
    T* gt = x.data<T>(2, i) + b;
    T* st = x.data<T>(3, i) + b;
    const T* sq = kSq ? x.data<T>(4, i) + b : nullptr;
    if (!bounded) {
      frozen.add(i, snr_loop<T, kWarm, kSq, kUpdate, kFreeze>(p, g, gt, st, sq, e - b, h));
      return;
    }
    Magnitude<T> gm = 0, sm = 0;
    frozen.add(i, snr_bounded_loop<T, kWarm, kSq, kUpdate>(p, g, gt, st, sq, e - b, h,
                                                            g_safe, sq_safe, gm, sm));
    std::lock_guard<std::mutex> guard(lock);
    g_max = std::max(g_max, gm);
    sq_max = std::max(sq_max, sm);
  });
  const double nan = std::numeric_limits<double>::quiet_NaN();
  if (!bounded) return {frozen.values(), nan, nan};
  const double G = from_magnitude<T>(g_max);
  return {frozen.values(), G, kSq ? from_magnitude<T>(sq_max) : G * G};
}

template <typename T, bool kFreeze>
SnrResult snr_dispatch(const Operands& x, bool sq, const SnrHyper& h, double Mg, double Ms) {
  const bool warm = h.warm_weight >= 0;
  switch (4 * warm + 2 * sq + h.update_params) {
    case 0: return snr_step_t<T, false, false, false, kFreeze>(x, h, Mg, Ms);
    case 1: return snr_step_t<T, false, false, true, kFreeze>(x, h, Mg, Ms);
    case 2: return snr_step_t<T, false, true, false, kFreeze>(x, h, Mg, Ms);
    case 3: return snr_step_t<T, false, true, true, kFreeze>(x, h, Mg, Ms);
    case 4: return snr_step_t<T, true, false, false, kFreeze>(x, h, Mg, Ms);
    case 5: return snr_step_t<T, true, false, true, kFreeze>(x, h, Mg, Ms);
    case 6: return snr_step_t<T, true, true, false, kFreeze>(x, h, Mg, Ms);
    default: return snr_step_t<T, true, true, true, kFreeze>(x, h, Mg, Ms);
  }
}

// Returns the counts, and the largest |g| and |sq| read (NaN where the step did not read
// them: without freeze, or without usable bounds).
std::tuple<std::vector<int64_t>, double, double> snr_step(
    at::TensorList params, at::TensorList grads, at::TensorList g_tilde,
    at::TensorList s_tilde, at::TensorList grad_sq, double warm_weight, bool update_params,
    double batch_size, double lambda_B, double lambda_eta, double eps, double eta_max,
    double lr, double variance_scale, bool freeze, double g_tilde_bound,
    double s_tilde_bound) {
  const bool sq = !grad_sq.empty();
  const Operands x = sq ? Operands{params, grads, g_tilde, s_tilde, grad_sq}
                        : Operands{params, grads, g_tilde, s_tilde};
  const SnrHyper h{warm_weight, update_params, batch_size, lambda_B, lambda_eta, eps,
                   eta_max, lr, variance_scale};
  const double Mg = g_tilde_bound, Ms = s_tilde_bound;
  const bool f32 = x.dtype == at::kFloat;
  const SnrResult r = f32 ? (freeze ? snr_dispatch<float, true>(x, sq, h, Mg, Ms)
                                    : snr_dispatch<float, false>(x, sq, h, Mg, Ms))
                          : (freeze ? snr_dispatch<double, true>(x, sq, h, Mg, Ms)
                                    : snr_dispatch<double, false>(x, sq, h, Mg, Ms));
  x.write_back(0, params);
  x.write_back(2, g_tilde);
  x.write_back(3, s_tilde);
  return {r.frozen, r.g_max, r.sq_max};
}

// The finiteness check ------------------------------------------------------------------

// Whether every element of every tensor is finite. Contiguous float32/float64 CPU
// tensors are read here once; any other tensor (rare) goes through torch.isfinite.
bool all_finite(at::TensorList tensors) {
  std::vector<at::Tensor> flat;
  std::vector<int64_t> sizes;
  for (const auto& t : tensors) {
    if (t.device().is_cpu() && t.is_contiguous() &&
        (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble)) {
      flat.push_back(t);
      sizes.push_back(t.numel());
    } else if (!t.isfinite().all().item<bool>()) {
      return false;
    }
  }
  std::atomic<bool> finite{true};
  for_each_block(sizes, [&](int64_t i, int64_t b, int64_t e) {
    const bool ok = flat[i].scalar_type() == at::kFloat
                        ? finite_loop<float, uint32_t>(ptr<float>(flat[i]) + b, e - b)
                        : finite_loop<double, uint64_t>(ptr<double>(flat[i]) + b, e - b);
    if (!ok) finite.store(false, std::memory_order_relaxed);
  });
  return finite.load();
}

// The largest |x| over every element of every tensor, or +inf if some element is inf or
// NaN: check_finite="strict"'s read of the gradients, which also bounds the step's
// arithmetic (lab.optim._base). On the bits of |x| (sign cleared) integer order is value
// order and inf and NaN are the largest patterns, so one integer max does both.
template <typename T, typename U>
double abs_max_loop(const T* x, int64_t n) {
  constexpr int bits = std::numeric_limits<T>::digits - 1;
  constexpr U magnitude = ~U(0) >> 1;
  constexpr U exponent = magnitude & ~((U(1) << bits) - 1);
  U acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    U u;
    std::memcpy(&u, x + i, sizeof(U));
    u &= magnitude;
    acc = acc > u ? acc : u;
  }
  if (acc >= exponent) return std::numeric_limits<double>::infinity();
  T out;
  std::memcpy(&out, &acc, sizeof(U));
  return static_cast<double>(out);
}

double abs_max(at::TensorList tensors) {
  std::vector<at::Tensor> flat;
  std::vector<int64_t> sizes;
  double result = 0.0;
  for (const auto& t : tensors) {
    if (t.device().is_cpu() && t.is_contiguous() &&
        (t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble)) {
      flat.push_back(t);
      sizes.push_back(t.numel());
    } else if (t.numel() > 0) {
      if (!t.isfinite().all().item<bool>()) return std::numeric_limits<double>::infinity();
      result = std::max(result, t.abs().max().item<double>());
    }
  }
  std::mutex lock;
  for_each_block(sizes, [&](int64_t i, int64_t b, int64_t e) {
    const double m = flat[i].scalar_type() == at::kFloat
                         ? abs_max_loop<float, uint32_t>(ptr<float>(flat[i]) + b, e - b)
                         : abs_max_loop<double, uint64_t>(ptr<double>(flat[i]) + b, e - b);
    std::lock_guard<std::mutex> guard(lock);
    result = std::max(result, m);
  });
  return result;
}

}  // namespace

TORCH_LIBRARY(lab_fused, m) {
  m.def("adam_step(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] mu, Tensor(c!)[] s, "
        "float lr, float w_g, float w_s, float eps, bool freeze) -> int[]",
        &adam_step);
  m.def("snr_step(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] g_tilde, "
        "Tensor(c!)[] s_tilde, Tensor[] grad_sq, float warm_weight, bool update_params, "
        "float batch_size, float lambda_B, float lambda_eta, float eps, float eta_max, "
        "float lr, float variance_scale, bool freeze, float g_tilde_bound, "
        "float s_tilde_bound) -> (int[], float, float)",
        &snr_step);
  m.def("sgd_step(Tensor(a!)[] params, Tensor[] grads, float lr, bool freeze) -> int[]",
        &sgd_step);
  m.def("momentum_step(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] v, float lr, "
        "float decay, bool freeze) -> int[]",
        &momentum_step);
  m.def("averaged_momentum_step(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] mu, "
        "float lr, float weight, bool freeze) -> int[]",
        &averaged_momentum_step);
  m.def("rmsprop_step(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] s, float lr, "
        "float weight, float eps, bool freeze) -> int[]",
        &rmsprop_step);
  m.def("all_finite(Tensor[] tensors) -> bool", &all_finite);
  m.def("abs_max(Tensor[] tensors) -> float", &abs_max);
}
