// Seeded weight distributions, exactly as formats/generation.md (generation v1) specifies:
// Philox4x32-10 blocks -> 53-bit uniforms -> Box-Muller in double with popup's own log and
// cos (only + - * / sqrt, so every IEEE-754 machine gets the same bits) -> one float rounding.
#include "init/weights_generate.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "error.hpp"

namespace popup {
namespace {

struct InitEntry {
  InitKind kind;
  const char* name;
};

constexpr InitEntry init_table[] = {
    {InitKind::kaiming_normal, "kaiming-normal"},
    {InitKind::signed_constant, "signed-constant"},
    {InitKind::kaiming_uniform, "kaiming-uniform"},
    {InitKind::xavier_normal, "xavier-normal"},
    {InitKind::unsigned_constant, "unsigned-constant"},
};

inline uint64_t double_bits(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

inline double bits_double(uint64_t bits) {
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}

// The two 53-bit integers of a block: a from (x1, x0), b from (x3, x2).
inline uint64_t block_a(const PhiloxCounter& block) {
  return ((static_cast<uint64_t>(block[1]) << 32) | block[0]) >> 11;
}
inline uint64_t block_b(const PhiloxCounter& block) {
  return ((static_cast<uint64_t>(block[3]) << 32) | block[2]) >> 11;
}

// n * 2^-53 for n <= 2^53, exact. (double)(int64_t) n would be exact too, but without
// AVX-512DQ there is no vector int64 -> double conversion; this form vectorises on AVX2.
// n = 2h + l with h <= 2^52: the bits 0x4330000000000000 + h are the double 2^52 + h.
inline double scaled_53(uint64_t n) {
  const double h = bits_double(0x4330000000000000ull + (n >> 1)) - 0x1p52;
  return (2.0 * h + static_cast<double>(static_cast<int32_t>(n & 1))) * 0x1p-53;
}

// log(1 + f) = 2 atanh(s), s = f / (2 + f): the Taylor coefficients 2 / (2k + 1), k = 1..10.
constexpr double log_c1 = 2.0 / 3, log_c2 = 2.0 / 5, log_c3 = 2.0 / 7, log_c4 = 2.0 / 9,
                 log_c5 = 2.0 / 11, log_c6 = 2.0 / 13, log_c7 = 2.0 / 15, log_c8 = 2.0 / 17,
                 log_c9 = 2.0 / 19, log_c10 = 2.0 / 21;
constexpr double ln2_hi = 0x1.62e42feep-1;        // 32 significant bits: e * ln2_hi exact
constexpr double ln2_lo = 0x1.a39ef35793c76p-33;  // ln 2 - ln2_hi

inline double log_inline(double x) {
  const uint64_t bits = double_bits(x);
  const uint64_t mantissa = bits & 0x000fffffffffffffull;
  // halve = 1 (use m / 2) exactly when m >= sqrt(2), i.e. when the mantissa field reaches
  // that of 0x1.6a09e667f3bcdp0; the carry into bit 52 computes it without a branch.
  const uint64_t halve = (mantissa + (0x0010000000000000ull - 0x6a09e667f3bcdull)) >> 52;
  const double e =
      static_cast<double>(static_cast<int32_t>(bits >> 52) - 1023 + static_cast<int32_t>(halve));
  const double m = bits_double(((1023 - halve) << 52) | mantissa);
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double p =
      log_c1 +
      z * (log_c2 +
           z * (log_c3 +
                z * (log_c4 +
                     z * (log_c5 +
                          z * (log_c6 +
                               z * (log_c7 + z * (log_c8 + z * (log_c9 + z * log_c10))))))));
  const double r = z * p;
  const double hfsq = 0.5 * f * f;
  return e * ln2_hi - ((hfsq - (s * (hfsq + r) + e * ln2_lo)) - f);
}

// cos x and sin x on |x| <= pi/4: Taylor coefficients (-1)^k / (2k)! and (-1)^k / (2k+1)!.
constexpr double cos_c1 = -1.0 / 2, cos_c2 = 1.0 / 24, cos_c3 = -1.0 / 720, cos_c4 = 1.0 / 40320,
                 cos_c5 = -1.0 / 3628800, cos_c6 = 1.0 / 479001600, cos_c7 = -1.0 / 87178291200,
                 cos_c8 = 1.0 / 20922789888000, cos_c9 = -1.0 / 6402373705728000;
constexpr double sin_c1 = -1.0 / 6, sin_c2 = 1.0 / 120, sin_c3 = -1.0 / 5040, sin_c4 = 1.0 / 362880,
                 sin_c5 = -1.0 / 39916800, sin_c6 = 1.0 / 6227020800, sin_c7 = -1.0 / 1307674368000,
                 sin_c8 = 1.0 / 355687428096000, sin_c9 = -1.0 / 121645100408832000;
constexpr double two_pi = 0x1.921fb54442d18p+2;
constexpr double round_shift = 0x1.8p52;  // adding it rounds [0, 4) to an integer

inline double cos_2pi_inline(double t) {
  const double shifted = 4.0 * t + round_shift;
  const uint64_t q = double_bits(shifted) & 3;          // quadrant: nearest integer to 4t, mod 4
  const double r = t - 0.25 * (shifted - round_shift);  // exact, |r| <= 1/8
  const double x = r * two_pi;
  const double z = x * x;
  const double pc =
      cos_c1 +
      z * (cos_c2 +
           z * (cos_c3 +
                z * (cos_c4 +
                     z * (cos_c5 + z * (cos_c6 + z * (cos_c7 + z * (cos_c8 + z * cos_c9)))))));
  const double ps =
      sin_c1 +
      z * (sin_c2 +
           z * (sin_c3 +
                z * (sin_c4 +
                     z * (sin_c5 + z * (sin_c6 + z * (sin_c7 + z * (sin_c8 + z * sin_c9)))))));
  const double cos_x = 1.0 + z * pc;
  const double sin_x = x + (x * z) * ps;
  // q: 0 cos, 1 -sin, 2 -cos, 3 sin; selected on the bits, without a branch.
  const uint64_t pick_sin = 0 - (q & 1);
  const uint64_t sign = ((q + 1) & 2) << 62;
  return bits_double(((double_bits(sin_x) & pick_sin) | (double_bits(cos_x) & ~pick_sin)) ^ sign);
}

// Box-Muller, z = sqrt(radius2) * cosine, in two parts (see fill_normal).
inline double normal_radius2(const PhiloxCounter& block) {
  return -2.0 * log_inline(scaled_53(block_a(block) + 1));  // log of (0, 1]
}
inline double normal_cosine(const PhiloxCounter& block) {
  return cos_2pi_inline(scaled_53(block_b(block)));  // cos 2 pi [0, 1)
}

// What each distribution takes from element `index` of the weights stream. The loops below
// call these rather than hold a block themselves: a block (an array) declared in a simd loop
// becomes a per-lane array in memory and stops the vectoriser.
inline void weights_normal_parts(uint64_t seed, uint32_t tensor, uint64_t index, double& radius2,
                                 double& cosine) {
  const PhiloxCounter block = philox_element(seed, RandomStream::weights, tensor, index);
  radius2 = normal_radius2(block);
  cosine = normal_cosine(block);
}
inline double weights_uniform_symmetric(uint64_t seed, uint32_t tensor, uint64_t index) {
  const PhiloxCounter block = philox_element(seed, RandomStream::weights, tensor, index);
  return 2.0 * scaled_53(block_a(block)) - 1.0;  // [-1, 1), exact
}
inline bool weights_sign_negative(uint64_t seed, uint32_t tensor, uint64_t index) {
  return philox_element(seed, RandomStream::weights, tensor, index)[0] >> 31;
}

// The loops over one chunk of elements. Every element is a pure function of its index, so
// the vector lanes and the threads may take them in any order. Cloned per instruction set;
// with contraction off, vector and scalar IEEE operations give the same bits.
#define POPUP_ISA_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

POPUP_ISA_CLONES void fill_normal(double sigma, uint64_t seed, uint32_t tensor, int64_t begin,
                                  int64_t end, float* out) {
  constexpr int64_t batch = 256;
  double radius2[batch], cosine[batch];
  for (int64_t start = begin; start < end; start += batch) {
    const int64_t count = std::min(batch, end - start);
#pragma omp simd
    for (int64_t j = 0; j < count; ++j) {
      weights_normal_parts(seed, tensor, static_cast<uint64_t>(start + j), radius2[j], cosine[j]);
    }
    // std::sqrt may set errno, so GCC will not vectorise it: a loop of its own keeps the
    // loop above vectorised.
    for (int64_t j = 0; j < count; ++j) {
      out[start + j] = static_cast<float>(sigma * (std::sqrt(radius2[j]) * cosine[j]));
    }
  }
}

POPUP_ISA_CLONES void fill_uniform(double bound, uint64_t seed, uint32_t tensor, int64_t begin,
                                   int64_t end, float* out) {
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    out[i] = static_cast<float>(bound *
                                weights_uniform_symmetric(seed, tensor, static_cast<uint64_t>(i)));
  }
}

POPUP_ISA_CLONES void fill_signed(double sigma, uint64_t seed, uint32_t tensor, int64_t begin,
                                  int64_t end, float* out) {
  const float positive = static_cast<float>(sigma), negative = static_cast<float>(-sigma);
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    out[i] = weights_sign_negative(seed, tensor, static_cast<uint64_t>(i)) ? negative : positive;
  }
}

#undef POPUP_ISA_CLONES

}  // namespace

const std::vector<std::string>& init_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> list;
    for (const InitEntry& entry : init_table) list.emplace_back(entry.name);
    return list;
  }();
  return names;
}

InitKind init_parse(const std::string& name) {
  for (const InitEntry& entry : init_table) {
    if (name == entry.name) return entry.kind;
  }
  std::string known;
  for (const InitEntry& entry : init_table) {
    known += (known.empty() ? "" : ", ") + std::string(entry.name);
  }
  throw InvalidArgument("", "unknown distribution '" + name + "' (known: " + known + ")");
}

std::string init_name(InitKind kind) {
  for (const InitEntry& entry : init_table) {
    if (entry.kind == kind) return entry.name;
  }
  throw InvalidArgument("",
                        "unknown distribution number " + std::to_string(static_cast<int>(kind)));
}

double init_std(InitKind kind, const TensorSpec& tensor, double scale_k) {
  if (!(scale_k > 0.0 && scale_k <= 1.0)) {
    std::ostringstream message;
    message << "scale k must be in (0, 1], got " << scale_k;
    throw InvalidArgument("", message.str());
  }
  if (tensor.fan_in <= 0 || tensor.fan_out <= 0) {
    throw InvalidArgument("", tensor.name + ": fans must be positive");
  }
  const double fan_in = static_cast<double>(tensor.fan_in);
  switch (kind) {
    case InitKind::kaiming_normal:
    case InitKind::signed_constant:
    case InitKind::unsigned_constant: return std::sqrt(2.0 / (fan_in * scale_k));
    case InitKind::kaiming_uniform: return std::sqrt(6.0 / (fan_in * scale_k));
    case InitKind::xavier_normal:
      return std::sqrt(2.0 / ((fan_in + static_cast<double>(tensor.fan_out)) * scale_k));
  }
  throw InvalidArgument("",
                        "unknown distribution number " + std::to_string(static_cast<int>(kind)));
}

void weights_generate(InitKind kind, double scale_k, uint64_t seed, uint32_t tensor_index,
                      const TensorSpec& tensor, float* out) {
  const double sigma = init_std(kind, tensor, scale_k);
  const int64_t n = tensor.numel();
  if (kind == InitKind::unsigned_constant) {
    std::fill(out, out + n, static_cast<float>(sigma));
    return;
  }
  void (*const fill)(double, uint64_t, uint32_t, int64_t, int64_t, float*) =
      kind == InitKind::kaiming_uniform   ? fill_uniform
      : kind == InitKind::signed_constant ? fill_signed
                                          : fill_normal;
  constexpr int64_t chunk = 16384;
  const int64_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * chunk;
    fill(sigma, seed, tensor_index, begin, std::min(n, begin + chunk), out);
  }
}

float weight_from_block(InitKind kind, double sigma, const PhiloxCounter& block) {
  switch (kind) {
    case InitKind::kaiming_normal:
    case InitKind::xavier_normal:
      return static_cast<float>(sigma * (std::sqrt(normal_radius2(block)) * normal_cosine(block)));
    case InitKind::kaiming_uniform:
      return static_cast<float>(sigma * (2.0 * scaled_53(block_a(block)) - 1.0));
    case InitKind::signed_constant:
      return block[0] >> 31 ? static_cast<float>(-sigma) : static_cast<float>(sigma);
    case InitKind::unsigned_constant: return static_cast<float>(sigma);
  }
  throw InvalidArgument("",
                        "unknown distribution number " + std::to_string(static_cast<int>(kind)));
}

float weight_redrawn(InitKind kind, double sigma, uint64_t seed, uint32_t tensor, uint64_t index,
                     uint32_t g) {
  return weight_from_block(kind, sigma,
                           philox_numbered(seed, RandomStream::redraw, g, tensor, index));
}

double random_uniform53(const PhiloxCounter& block) { return scaled_53(block_a(block)); }

double random_normal(const PhiloxCounter& block) {
  return std::sqrt(normal_radius2(block)) * normal_cosine(block);
}

double popup_log(double x) { return log_inline(x); }

double popup_cos_2pi(double t) { return cos_2pi_inline(t); }

}  // namespace popup
