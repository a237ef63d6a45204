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
// Non-finite gradients and results (lab.optim's check_finite): with freeze, a step checks
// each gradient as it reads it and each new value as it computes it, and a coordinate keeps
// its parameter and state when its gradient is inf or NaN, when a new state value is, or
// when the new parameter is and the old one was finite (no extra pass over memory); the
// step returns the count per tensor.
// all_finite is the read-only check of check_finite="strict", run over every gradient
// before any step writes, so that a non-finite gradient changes nothing: a step cannot
// promise that by itself, since a NaN in its last block is found after the first blocks
// were written.

#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
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

// Whether a coordinate keeps its values (see the top of the file): `checked` is the sum
// of x - x over the gradient and the new state values, 0 exactly when all are finite
// (x - x is NaN exactly for inf and NaN; kept under -fno-trapping-math, which still
// honours NaN).
template <typename T>
inline bool keep_old(T checked, T p_new, T p_old) {
  // Bitwise, not short-circuit: the loops stay branch-free and vectorize.
  return (checked != T(0)) | ((p_new - p_new != T(0)) & (p_old - p_old == T(0)));
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

// The reference functions of lab/optim/updates.py op for op; with kFreeze a coordinate whose
// gradient is inf or NaN keeps p and its state. Each returns how many coordinates did.

// sgd_update: p -= lr * g.
template <typename T, bool kFreeze>
int32_t sgd_loop(T* p, const T* g, int64_t n, T lr) {
  int32_t frozen = 0;  // a block has at most kBlock elements
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], pi = p[i];
    const T stepped = pi - lr * gi;
    const bool keep = kFreeze & keep_old(gi - gi, stepped, pi);
    frozen += keep;
    p[i] = keep ? pi : stepped;
  }
  return frozen;
}

// momentum_update: v = v * (1 - 1/N) + lr * g; p -= v.
template <typename T, bool kFreeze>
int32_t momentum_loop(T* p, const T* g, T* v, int64_t n, T lr, T decay) {
  int32_t frozen = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], pi = p[i], vi = v[i];
    const T vn = vi * decay + lr * gi;
    const T stepped = pi - vn;
    const bool keep = kFreeze & keep_old((gi - gi) + (vn - vn), stepped, pi);
    frozen += keep;
    v[i] = keep ? vi : vn;
    p[i] = keep ? pi : stepped;
  }
  return frozen;
}

// averaged_momentum_update: mu = lerp(mu, g, 1/N); p -= lr * mu.
template <typename T, bool kFreeze>
int32_t averaged_momentum_loop(T* p, const T* g, T* mu, int64_t n, T lr, T w) {
  int32_t frozen = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], pi = p[i], mi = mu[i];
    const T m = lerp(mi, gi, w);
    const T stepped = pi - lr * m;
    const bool keep = kFreeze & keep_old((gi - gi) + (m - m), stepped, pi);
    frozen += keep;
    mu[i] = keep ? mi : m;
    p[i] = keep ? pi : stepped;
  }
  return frozen;
}

// rmsprop_update: s = lerp(s, g*g, 1/N_s); p -= lr * (g / max(sqrt(s + eps), tiny)).
template <typename T, bool kFreeze>
int32_t rmsprop_loop(T* p, const T* g, T* s, int64_t n, T lr, T w, T eps) {
  const T tiny = std::numeric_limits<T>::min();
  int32_t frozen = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], pi = p[i], si = s[i];
    const T v = lerp(si, gi * gi, w);
    const T stepped = pi - lr * (gi / clamp_min(std::sqrt(v + eps), tiny));
    const bool keep = kFreeze & keep_old((gi - gi) + (v - v), stepped, pi);
    frozen += keep;
    s[i] = keep ? si : v;
    p[i] = keep ? pi : stepped;
  }
  return frozen;
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
      if constexpr (kKind == Simple::kMomentum) {
        k = momentum_loop<T, kFreeze>(p, g, state, n, T(lr), T(a));
      } else if constexpr (kKind == Simple::kAveragedMomentum) {
        k = averaged_momentum_loop<T, kFreeze>(p, g, state, n, T(lr), T(a));
      } else {
        k = rmsprop_loop<T, kFreeze>(p, g, state, n, T(lr), T(a), T(b));
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

// adam_update: mu = lerp(mu, g, w_g); s = lerp(s, g*g, w_s);
// p -= lr * (mu / max(sqrt(s) + eps, tiny)). With kFreeze, a coordinate with a non-finite
// gradient or result (keep_old) keeps p, mu and s; returns how many did.
template <typename T, bool kFreeze>
int64_t adam_loop(T* p, const T* g, T* mu, T* s, int64_t n, T lr, T w_g, T w_s, T eps) {
  const T tiny = std::numeric_limits<T>::min();
  int32_t frozen = 0;  // a block has at most kBlock elements
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], mi = mu[i], si = s[i], pi = p[i];
    const T m = lerp(mi, gi, w_g);
    const T v = lerp(si, gi * gi, w_s);
    const T stepped = pi - lr * (m / clamp_min(std::sqrt(v) + eps, tiny));
    const bool keep = kFreeze & keep_old((gi - gi) + (m - m) + (v - v), stepped, pi);
    frozen += keep;
    mu[i] = keep ? mi : m;
    s[i] = keep ? si : v;
    p[i] = keep ? pi : stepped;
  }
  return frozen;
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
// newest gradient exactly (so v' = 0 there, as in the reference's lerp). With kFreeze, a
// coordinate with a non-finite gradient, sq or result (keep_old) keeps p, g~ and s~;
// returns how many did.
template <typename T, bool kWarm, bool kSq, bool kUpdate, bool kFreeze>
int64_t snr_loop(T* p, const T* g, T* gt, T* st, const T* sq, int64_t n, const SnrHyper& h) {
  const T tiny = std::numeric_limits<T>::min();
  const T c_w = h.lambda_B * h.variance_scale / h.batch_size;
  const T c_eta = h.variance_scale / h.lambda_eta;
  const T eps = h.eps, eta_max = h.eta_max, lr = h.lr, warm = h.warm_weight;
  int32_t frozen = 0;  // a block has at most kBlock elements
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i], gti = gt[i], sti = st[i];
    const T sqi = kSq ? sq[i] : gi * gi;
    T g_tilde, s_tilde;
    if (kWarm) {  // the reference's lerp with the one warm-up weight: bit for bit
      g_tilde = lerp(gti, gi, warm);
      s_tilde = lerp(sti, sqi, warm);
    } else {
      const T a = gti * gti;
      const T w = clamp_max((a + eps) / clamp_min(c_w * (sti - a), tiny), T(1));
      const bool restart = w == T(1);
      g_tilde = restart ? gi : fmadd(w, gi - gti, gti);
      s_tilde = restart ? sqi : fmadd(w, sqi - sti, sti);
    }
    // sqi is g*g (not read) in "batch" mode; a non-finite one shows in s_tilde then.
    const T checked = (gi - gi) + (kSq ? sqi - sqi : T(0)) + (g_tilde - g_tilde) +
                      (s_tilde - s_tilde);
    if (kUpdate) {
      const T a = g_tilde * g_tilde;
      const T eta = clamp_max(a / clamp_min(c_eta * (s_tilde - a), tiny), eta_max);
      const T pi = p[i];
      const T stepped = pi - lr * (eta * gi);
      const bool keep = kFreeze & keep_old(checked, stepped, pi);
      frozen += keep;
      gt[i] = keep ? gti : g_tilde;
      st[i] = keep ? sti : s_tilde;
      p[i] = keep ? pi : stepped;
    } else {
      const bool keep = kFreeze & (checked != T(0));
      frozen += keep;
      gt[i] = keep ? gti : g_tilde;
      st[i] = keep ? sti : s_tilde;
    }
  }
  return frozen;
}

template <typename T, bool kWarm, bool kSq, bool kUpdate, bool kFreeze>
std::vector<int64_t> snr_step_t(const Operands& x, const SnrHyper& h) {
  Counts frozen(x.sizes.size());
  for_each_block(x.sizes, [&](int64_t i, int64_t b, int64_t e) {
    frozen.add(i, snr_loop<T, kWarm, kSq, kUpdate, kFreeze>(
                      x.data<T>(0, i) + b, x.data<T>(1, i) + b, x.data<T>(2, i) + b,
                      x.data<T>(3, i) + b, kSq ? x.data<T>(4, i) + b : nullptr, e - b, h));
  });
  return frozen.values();
}

template <typename T, bool kFreeze>
std::vector<int64_t> snr_dispatch(const Operands& x, bool sq, const SnrHyper& h) {
  const bool warm = h.warm_weight >= 0;
  switch (4 * warm + 2 * sq + h.update_params) {
    case 0: return snr_step_t<T, false, false, false, kFreeze>(x, h);
    case 1: return snr_step_t<T, false, false, true, kFreeze>(x, h);
    case 2: return snr_step_t<T, false, true, false, kFreeze>(x, h);
    case 3: return snr_step_t<T, false, true, true, kFreeze>(x, h);
    case 4: return snr_step_t<T, true, false, false, kFreeze>(x, h);
    case 5: return snr_step_t<T, true, false, true, kFreeze>(x, h);
    case 6: return snr_step_t<T, true, true, false, kFreeze>(x, h);
    default: return snr_step_t<T, true, true, true, kFreeze>(x, h);
  }
}

std::vector<int64_t> snr_step(at::TensorList params, at::TensorList grads,
                              at::TensorList g_tilde, at::TensorList s_tilde,
                              at::TensorList grad_sq, double warm_weight, bool update_params,
                              double batch_size, double lambda_B, double lambda_eta,
                              double eps, double eta_max, double lr, double variance_scale,
                              bool freeze) {
  const bool sq = !grad_sq.empty();
  const Operands x = sq ? Operands{params, grads, g_tilde, s_tilde, grad_sq}
                        : Operands{params, grads, g_tilde, s_tilde};
  const SnrHyper h{warm_weight, update_params, batch_size, lambda_B, lambda_eta, eps,
                   eta_max, lr, variance_scale};
  const bool f32 = x.dtype == at::kFloat;
  const auto frozen = f32 ? (freeze ? snr_dispatch<float, true>(x, sq, h)
                                    : snr_dispatch<float, false>(x, sq, h))
                          : (freeze ? snr_dispatch<double, true>(x, sq, h)
                                    : snr_dispatch<double, false>(x, sq, h));
  x.write_back(0, params);
  x.write_back(2, g_tilde);
  x.write_back(3, s_tilde);
  return frozen;
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
        "float lr, float variance_scale, bool freeze) -> int[]",
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
