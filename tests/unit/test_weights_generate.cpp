// Unit tests for lib/init/weights_generate.hpp: golden first values from
// tests/reference_generator.py (generated weights and IteRand's redrawn values), the vectorised
// loops against the scalar building blocks and weight_from_block, accuracy of popup_log /
// popup_cos_2pi, moments of every distribution, thread independence.
#include <boost/test/unit_test.hpp>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "error.hpp"
#include "init/weights_generate.hpp"

using popup::InitKind;
using popup::PhiloxCounter;
using popup::TensorSpec;

namespace {

const InitKind all_kinds[] = {InitKind::kaiming_normal, InitKind::signed_constant,
                              InitKind::kaiming_uniform, InitKind::xavier_normal,
                              InitKind::unsigned_constant};

TensorSpec test_tensor(int64_t numel, int64_t fan_in, int64_t fan_out) {
  TensorSpec tensor;
  tensor.name = "test.weight";
  tensor.kind = popup::LayerKind::linear;
  tensor.shape = {numel};
  tensor.fan_in = fan_in;
  tensor.fan_out = fan_out;
  return tensor;
}

std::vector<float> generate(InitKind kind, double scale_k, uint64_t seed, uint32_t tensor_index,
                            const TensorSpec& tensor) {
  std::vector<float> out(tensor.numel());
  popup::weights_generate(kind, scale_k, seed, tensor_index, tensor, out.data());
  return out;
}

uint32_t float_bits(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

uint64_t double_bits(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return bits;
}

// Element `index` computed one at a time from the scalar building blocks, as
// formats/generation.md states it.
float element_reference(InitKind kind, double sigma, uint64_t seed, uint32_t tensor,
                        uint64_t index) {
  const PhiloxCounter block =
      popup::philox_element(seed, popup::RandomStream::weights, tensor, index);
  switch (kind) {
    case InitKind::kaiming_normal:
    case InitKind::xavier_normal: return static_cast<float>(sigma * popup::random_normal(block));
    case InitKind::kaiming_uniform:
      return static_cast<float>(sigma * (2.0 * popup::random_uniform53(block) - 1.0));
    case InitKind::signed_constant: return static_cast<float>((block[0] >> 31) ? -sigma : sigma);
    case InitKind::unsigned_constant: return static_cast<float>(sigma);
  }
  return 0.0f;
}

// Index of the first element whose bits differ, or -1.
int64_t first_difference(const std::vector<float>& a, const std::vector<float>& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    if (float_bits(a[i]) != float_bits(b[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

// Distance of `got` from `reference` in units in the last place of the double nearest to it.
double ulps(double got, long double reference) {
  const double nearest = static_cast<double>(reference);
  return static_cast<double>(std::fabs(got - reference)) /
         std::ldexp(1.0, std::ilogb(nearest) - 52);
}

// The sample moments that the statistical tests need.
struct Moments {
  double mean = 0, variance = 0, fourth = 0;  // variance and fourth: central, divided by n
  int64_t n = 0;
};

Moments moments(const std::vector<float>& values) {
  Moments m;
  m.n = static_cast<int64_t>(values.size());
  long double sum = 0;
  for (float v : values) sum += v;
  m.mean = static_cast<double>(sum / m.n);
  long double sum2 = 0, sum4 = 0;
  for (float v : values) {
    const long double d = v - m.mean;
    sum2 += d * d;
    sum4 += d * d * d * d;
  }
  m.variance = static_cast<double>(sum2 / m.n);
  m.fourth = static_cast<double>(sum4 / m.n);
  return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(weights_generate)

BOOST_AUTO_TEST_CASE(names_round_trip) {
  BOOST_TEST(popup::init_names().size() == std::size(all_kinds));
  for (InitKind kind : all_kinds) {
    BOOST_TEST((popup::init_parse(popup::init_name(kind)) == kind));
  }
  BOOST_TEST(popup::init_name(InitKind::kaiming_normal) == "kaiming-normal");
  BOOST_TEST(popup::init_name(InitKind::signed_constant) == "signed-constant");
  BOOST_TEST(popup::init_name(InitKind::kaiming_uniform) == "kaiming-uniform");
  BOOST_TEST(popup::init_name(InitKind::xavier_normal) == "xavier-normal");
  BOOST_TEST(popup::init_name(InitKind::unsigned_constant) == "unsigned-constant");
}

BOOST_AUTO_TEST_CASE(unknown_name_lists_known_ones) {
  try {
    popup::init_parse("gaussian");
    BOOST_FAIL("init_parse accepted 'gaussian'");
  } catch (const popup::InvalidArgument& e) {
    BOOST_TEST(e.file() == "");
    BOOST_TEST(std::string(e.what()) ==
               "unknown distribution 'gaussian' (known: kaiming-normal, signed-constant, "
               "kaiming-uniform, xavier-normal, unsigned-constant)");
  }
}

BOOST_AUTO_TEST_CASE(std_values) {
  const TensorSpec tensor = test_tensor(1, 100, 60);
  BOOST_TEST(popup::init_std(InitKind::kaiming_normal, tensor, 1.0) == std::sqrt(2.0 / 100));
  BOOST_TEST(popup::init_std(InitKind::signed_constant, tensor, 1.0) == std::sqrt(2.0 / 100));
  BOOST_TEST(popup::init_std(InitKind::unsigned_constant, tensor, 1.0) == std::sqrt(2.0 / 100));
  BOOST_TEST(popup::init_std(InitKind::kaiming_uniform, tensor, 1.0) == std::sqrt(6.0 / 100));
  BOOST_TEST(popup::init_std(InitKind::xavier_normal, tensor, 1.0) == std::sqrt(2.0 / 160));
  // --scale divides the fan by k: k = 0.5 doubles the variance.
  BOOST_TEST(popup::init_std(InitKind::kaiming_normal, tensor, 0.5) == std::sqrt(2.0 / 50));
  BOOST_TEST(popup::init_std(InitKind::kaiming_uniform, tensor, 0.25) == std::sqrt(6.0 / 25));
  BOOST_TEST(popup::init_std(InitKind::xavier_normal, tensor, 0.5) == std::sqrt(2.0 / 80));
}

BOOST_AUTO_TEST_CASE(std_rejects_bad_input) {
  const TensorSpec tensor = test_tensor(1, 100, 60);
  for (double k : {0.0, -0.5, 1.5, std::nan("")}) {
    BOOST_CHECK_THROW(popup::init_std(InitKind::kaiming_normal, tensor, k), popup::InvalidArgument);
  }
  BOOST_CHECK_THROW(popup::init_std(InitKind::kaiming_normal, test_tensor(1, 0, 5), 1.0),
                    popup::InvalidArgument);
  float out[1];
  BOOST_CHECK_THROW(
      popup::weights_generate(InitKind::signed_constant, 2.0, 0, 0, test_tensor(1, 4, 4), out),
      popup::InvalidArgument);
}

// The first 64 values of the recipes that tests/reference_generator.py prints (an independent
// Python implementation of formats/generation.md), as float32 bit patterns. Regenerate with
// `python3 tests/reference_generator.py` only when the generation version changes.
BOOST_AUTO_TEST_CASE(golden_values) {
  struct Golden {
    InitKind kind;
    uint64_t seed;
    uint32_t tensor_index;
    int64_t fan_in, fan_out;
    double scale_k;
    uint64_t start;  // index of the first value
    uint32_t bits[64];
  };
  const Golden cases[] = {
      {InitKind::kaiming_normal,
       0,
       0,
       27,
       576,
       1.0,
       0,
       {0xbddda86c, 0x3ec1414a, 0xbd656893, 0xbea59223, 0x3e4eaa7f, 0xbee58b33, 0x3e320933,
        0xbf275fb5, 0x3e158932, 0x3ecfa8ec, 0x3d1be6dc, 0x3e9c113c, 0x3eddb38f, 0xbd8332ad,
        0x3f240dbe, 0x3e07c090, 0x3e1283b3, 0xbf12747c, 0x3e24381b, 0xbec070e8, 0x3da7a767,
        0x3efcd7fc, 0xbe820fad, 0x3b8bc239, 0x3e7b4f8e, 0x3ea7b1c3, 0x3e3943ab, 0xbf167e5e,
        0x3d87d488, 0x3e306d66, 0x3e37aa16, 0xbe1b0c53, 0x3cef2361, 0xbe033d04, 0x3d8fc607,
        0xbe2aed1b, 0x3e566e32, 0x3e7630a4, 0xbe9aa3ad, 0x3ed4a09d, 0xbe820d83, 0x3e2a7c1e,
        0xbd530f0d, 0x3e4649c4, 0xbd9c3ba4, 0x3ecbe95d, 0x3ddb57ab, 0x3d9b4713, 0x3cc9d6d7,
        0x3e5eee88, 0xbe09212c, 0x3dbfa311, 0x3e763f9f, 0xbe92fd41, 0x3d95bad5, 0xbe1c0f08,
        0xbecb76a0, 0x3dcb98c1, 0xbe8700c9, 0xbceceb30, 0xbe32b1b9, 0xbdb95f63, 0x3ee12d89,
        0xbe04c017}},
      {InitKind::kaiming_normal,
       0x123456789abcdefull,
       7,
       1152,
       1152,
       0.5,
       0,
       {0xbd177ed4, 0x3c878d9b, 0x3c9526e5, 0x3ac1de5e, 0x3c63e510, 0xbb952930, 0xbb93291e,
        0x3dc8368a, 0x3d4ccb4c, 0x3c140dce, 0x3b77b81c, 0xbd0450ac, 0xbc897c41, 0x3d43490f,
        0xbcca7794, 0xbd1f8bab, 0xbc828ef1, 0xbd347fad, 0xbd8c934d, 0xbd2e5eca, 0xbd2fb4e9,
        0x3c77748c, 0xbc46c11c, 0xbcff4519, 0xbc4ab748, 0x3c332d93, 0x3c9b1b4f, 0x3d62927b,
        0x3d018ccb, 0x3d0c8691, 0x3d3ec0e1, 0x3aa98c11, 0x3ce3adca, 0x3d1e2e77, 0x3d9d8a12,
        0xbcae286e, 0x3d493872, 0x3d85795d, 0x3c74f772, 0xbc4314e4, 0xbc44ea37, 0xbd1527d2,
        0x3c6807af, 0x3d9a4614, 0xbdb36bdf, 0x3c99c7ab, 0x3df90cd1, 0xbbfb520b, 0xbcd1ee7b,
        0xbd8da840, 0x3d3008a7, 0xbc3b171f, 0x3d422965, 0x3c33ad96, 0xbd6acf36, 0xbc7ce920,
        0x3d9b6194, 0xbe229c8b, 0x3d59753a, 0xbd06ff52, 0x3d501db2, 0x3d170cbe, 0x3db1c41f,
        0x3cd89800}},
      {InitKind::kaiming_normal,
       0x7e4ull,
       3,
       4608,
       4608,
       1.0,
       0xffffffe0ull,
       {0x3b70e9e8, 0xbbb4fda5, 0xbb34953e, 0x3bf99b12, 0x3aca8e4e, 0xbd0d308a, 0xbcc07116,
        0xbd1a5d19, 0x3cdc5ed8, 0x3b8c1ea5, 0xbcc0e1e9, 0x3b70be1a, 0xbb849107, 0xbadbbfac,
        0xbd092d84, 0x3ba801eb, 0x3c30a048, 0xbd42e1b2, 0xbb802fcc, 0xbcc180fd, 0x3b3b68af,
        0xbc6abd86, 0xbcf32468, 0x3c73f301, 0xbcbbdd7e, 0xbc78f21e, 0xbc7c0fc5, 0xbd30dd09,
        0x3c02079b, 0x3d46b888, 0x3ce11500, 0xbcc4f52a, 0x3cdf0cb2, 0x3c88669b, 0x3c9d9bad,
        0xbc49586a, 0xbb3027b1, 0xbcba3b3f, 0xbc7ea650, 0xbc07a429, 0x393bf32b, 0x3c316d0c,
        0x3ca31dc9, 0xbca1bdbf, 0x3c2e81de, 0x3c3be6db, 0x3d0043a8, 0xbc2c7a66, 0xbc341cba,
        0x3c87862c, 0x3c9ed4c1, 0xbc59defb, 0xbb9c389d, 0x3d2269b4, 0x3c7437e0, 0x3cdb5aeb,
        0xbcfd7cc2, 0xbc3074d8, 0x3cb8dbd9, 0xbc7fe4b0, 0x3c65a134, 0x3c276d94, 0x3c7d924f,
        0xbcd22a33}},
      {InitKind::signed_constant,
       0x2aull,
       1,
       784,
       300,
       1.0,
       0,
       {0x3d4ee116, 0x3d4ee116, 0x3d4ee116, 0x3d4ee116, 0xbd4ee116, 0x3d4ee116, 0xbd4ee116,
        0x3d4ee116, 0xbd4ee116, 0x3d4ee116, 0x3d4ee116, 0xbd4ee116, 0xbd4ee116, 0x3d4ee116,
        0x3d4ee116, 0xbd4ee116, 0x3d4ee116, 0xbd4ee116, 0xbd4ee116, 0xbd4ee116, 0xbd4ee116,
        0xbd4ee116, 0xbd4ee116, 0xbd4ee116, 0x3d4ee116, 0x3d4ee116, 0xbd4ee116, 0x3d4ee116,
        0xbd4ee116, 0xbd4ee116, 0x3d4ee116, 0xbd4ee116, 0x3d4ee116, 0x3d4ee116, 0x3d4ee116,
        0xbd4ee116, 0xbd4ee116, 0x3d4ee116, 0xbd4ee116, 0xbd4ee116, 0x3d4ee116, 0x3d4ee116,
        0x3d4ee116, 0xbd4ee116, 0x3d4ee116, 0x3d4ee116, 0x3d4ee116, 0x3d4ee116, 0x3d4ee116,
        0x3d4ee116, 0xbd4ee116, 0x3d4ee116, 0x3d4ee116, 0x3d4ee116, 0x3d4ee116, 0xbd4ee116,
        0x3d4ee116, 0x3d4ee116, 0xbd4ee116, 0x3d4ee116, 0xbd4ee116, 0xbd4ee116, 0x3d4ee116,
        0xbd4ee116}},
      {InitKind::kaiming_uniform,
       0x2aull,
       2,
       300,
       100,
       0.3,
       0,
       {0x3c2b3afe, 0x3e4ac9d4, 0xbd987e02, 0x3e6936be, 0x3e8250cd, 0xbd96e6ea, 0x3d801d17,
        0x3e7e1e64, 0xbd4e93a3, 0x3e814785, 0x3bb6c7f6, 0xbd70ea45, 0xbe6b60f1, 0xbe7d2b69,
        0xbdae691e, 0x3db2effb, 0x3d88ff85, 0x3c62e0b0, 0x3c7111a0, 0x3e6bfedc, 0xbde7b72e,
        0xbd97882f, 0x3d294598, 0xbdac23fa, 0xbe50ba4c, 0x3d1e0d43, 0x3e7b9425, 0x3e2f231f,
        0x3e799133, 0x3e23a83f, 0xbde7b722, 0xbe126fd8, 0x3df94b45, 0x3a540da8, 0x3e1ff112,
        0x3d4a37bf, 0xbe78bbcd, 0x3e47cf03, 0x3b1ebca5, 0xbe6452ef, 0x3d0ac0a9, 0x3e1dc61a,
        0x3e01a7c9, 0x3dc280ce, 0xbd20c588, 0x3b595428, 0xbdc40903, 0x3dcbaf17, 0xbd47c741,
        0x3e48ec54, 0xbca33afe, 0xbdbeb757, 0xbe2d1720, 0x3da5392d, 0x3e028fc9, 0xbd5208c0,
        0x3cde67ff, 0xbd12db70, 0x3e5a6c72, 0xbda9bbd7, 0x3dcfc569, 0xbd9800d2, 0xbe16cd98,
        0xbdc8e18b}},
      {InitKind::xavier_normal,
       0x7ull,
       3,
       100,
       10,
       1.0,
       0,
       {0xbe649196, 0xbe2a6ebb, 0xbcfdf6ac, 0x3df00ca0, 0xbde4a27f, 0xbe2ab9c9, 0xbd8e76c0,
        0xbe046eb5, 0xbd4c006b, 0x3eb3a670, 0xbe22e171, 0x3dbf89f4, 0xbe06a976, 0xbe383b3e,
        0x3d599d50, 0xbd84398d, 0x3db7009d, 0x3e384f6d, 0x3e81dbef, 0xbd94a7d6, 0xbe44c98e,
        0xbda0f24c, 0xbbe702b4, 0xbe8dfad1, 0x3e714e1b, 0xbe8005c5, 0x3d13a49c, 0x3ced9357,
        0xbd2c14a6, 0xbd9176eb, 0xbd116528, 0x3d38f9cb, 0x3d9f44cc, 0xbd79d641, 0xbe49b2e4,
        0x3ce1d324, 0xbd7d2292, 0x3d085bd6, 0x3e595be7, 0x3e056888, 0xbd6489cc, 0xbdcc9298,
        0x3dcd775e, 0xbcf81f98, 0x3e1ea6d5, 0x3d744d91, 0x3d0304e6, 0x3d7dcb40, 0x3e294ea0,
        0xbda00f37, 0x3e01ed18, 0x3cad2e63, 0xbacae598, 0x3d846778, 0xbda3b4b8, 0x3dddbbe1,
        0xbd9df7db, 0x3badf333, 0x3e11dae1, 0x3e2cd8db, 0xbd81324f, 0xbd061e3c, 0x3d88a456,
        0x3e089916}},
      {InitKind::unsigned_constant,
       0x1ull,
       0,
       9,
       9,
       0.5,
       0,
       {0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab}},
  };
  for (const Golden& g : cases) {
    BOOST_TEST_CONTEXT(popup::init_name(g.kind) << " seed " << g.seed << " tensor "
                                                << g.tensor_index << " start " << g.start) {
      const TensorSpec tensor = test_tensor(64, g.fan_in, g.fan_out);
      std::vector<float> got(64);
      if (g.start == 0) {
        got = generate(g.kind, g.scale_k, g.seed, g.tensor_index, tensor);
      } else {  // beyond any real tensor: from the building blocks
        const double sigma = popup::init_std(g.kind, tensor, g.scale_k);
        for (int i = 0; i < 64; ++i) {
          got[i] = element_reference(g.kind, sigma, g.seed, g.tensor_index, g.start + i);
        }
      }
      for (int i = 0; i < 64; ++i) {
        BOOST_TEST_REQUIRE(float_bits(got[i]) == g.bits[i],
                           "element " << i << ": got " << std::hex << float_bits(got[i])
                                      << ", expected " << g.bits[i]);
      }
    }
  }
}

// Double-precision results of the building blocks, from `tests/reference_generator.py
// --doubles`: pins formats/generation.md below the float32 rounding, where the golden
// weights above could not see a change of a few double ulps.
BOOST_AUTO_TEST_CASE(golden_doubles) {
  struct Point {
    double argument;
    uint64_t bits;
  };
  const Point logs[] = {
      {0x1p-53, 0xc0425e4f7b2737faull},
      {0x1.8p-40, 0xc03b52072f05ca0aull},
      {0x1.999999999999ap-4, 0xc0026bb1bbb55515ull},
      {0x1.5555555555555p-2, 0xbff193ea7aad030bull},
      {0x1.6a09e667f3bccp-1, 0xbfd62e42fefa39f1ull},
      {0x1.6a09e667f3bcdp-1, 0xbfd62e42fefa39eeull},
      {0x1.8p-1, 0xbfd269621134db92ull},
      {0x1.fffffffffffffp-1, 0xbca0000000000000ull},
      {0x1.6ab8b86670153p-3, 0xbffbb21bbe03234cull},
  };
  const Point cosines[] = {
      {0x1p-53, 0x3ff0000000000000ull},
      {0x1.999999999999ap-4, 0x3fe9e3779b97f4a8ull},
      {0x1p-3, 0x3fe6a09e667f3bcdull},
      {0x1.3333333333333p-2, 0xbfd3c6ef372fe94eull},
      {0x1.5555555555555p-2, 0xbfdffffffffffffdull},
      {0x1.3333333333333p-1, 0xbfe9e3779b97f4a8ull},
      {0x1.ccccccccccccdp-1, 0x3fe9e3779b97f4a8ull},
      {0x1.fffffffffffffp-1, 0x3ff0000000000000ull},
      {0x1.8300934eb5c90p-2, 0xbfe70a56c58d8ff8ull},
      {0x1.06661b68dde3cp-3, 0x3fe62dcadb06948aull},
  };
  const uint64_t normals[16] = {
      0xbfd973628c131c04ull, 0x3ff63083c830bea5ull, 0xbfca5734828884a4ull, 0xbff302c4d6bd16d6ull,
      0x3fe7bab709d7e00aull, 0xbffa5b2e46bd7bddull, 0x3fe4712a9f2fbef1ull, 0xc00337c42ced6175ull,
      0x3fe12b70b361292aull, 0x3ff7d7ed8d2c356bull, 0x3fc1e68eda98d39cull, 0x3ff1eb6c6d715092ull,
      0x3ff974a9f14a65c5ull, 0xbfce20d540ef6d98ull, 0x4002d62c78d5ba32ull, 0x3fdf2c912eb8f702ull};
  for (const Point& p : logs) {
    BOOST_TEST(double_bits(popup::popup_log(p.argument)) == p.bits,
               "popup_log(" << std::hexfloat << p.argument << ")");
  }
  for (const Point& p : cosines) {
    BOOST_TEST(double_bits(popup::popup_cos_2pi(p.argument)) == p.bits,
               "popup_cos_2pi(" << std::hexfloat << p.argument << ")");
  }
  for (int i = 0; i < 16; ++i) {
    const PhiloxCounter block = popup::philox_element(0, popup::RandomStream::weights, 0, i);
    BOOST_TEST(double_bits(popup::random_normal(block)) == normals[i], "element " << i);
  }
}

// Redraw v1 (formats/generation.md §10): the first 16 values after the g-th redraw of the
// redraw cases of `python3 tests/reference_generator.py` (its lines "# ... redraw=G"). The
// first four cases are the worked example of §10.
BOOST_AUTO_TEST_CASE(golden_redrawn_values) {
  struct Golden {
    InitKind kind;
    uint64_t seed;
    uint32_t tensor_index;
    int64_t fan_in, fan_out;
    double scale_k;
    uint64_t start;  // index of the first value
    uint32_t g;      // the redraw count
    uint32_t bits[16];
  };
  const Golden cases[] = {
      {InitKind::kaiming_normal,
       0,
       0,
       27,
       576,
       1.0,
       0,
       1,
       {0xbeae3934, 0xbcc26b59, 0xbd5fa4e4, 0xbec0ff97, 0x3ebbc51c, 0xbe18e090, 0xbd5c0e97,
        0x3da1ee1b, 0x3c9ca7d3, 0x3dc9d908, 0x3bd295fd, 0xbeab7a57, 0x3ef9921e, 0xbdb697eb,
        0x3daa5ed2, 0xbe9e7ae3}},
      {InitKind::kaiming_normal,
       0,
       0,
       27,
       576,
       1.0,
       0,
       2,
       {0xba2745ec, 0x3d2b0c2b, 0xbddb204a, 0x3ead79b1, 0xbe88f169, 0x3d43ace1, 0x3f0ee22c,
        0x3dbc8dde, 0xbb8ac927, 0xbd4e28f0, 0x3d7e2a40, 0xbeed49f8, 0x3d95a860, 0xbea18ff8,
        0xbee440ff, 0x3ee1ca59}},
      {InitKind::signed_constant,
       0,
       0,
       27,
       576,
       1.0,
       0,
       1,
       {0x3e8b5948, 0xbe8b5948, 0xbe8b5948, 0xbe8b5948, 0xbe8b5948, 0xbe8b5948, 0x3e8b5948,
        0x3e8b5948, 0xbe8b5948, 0x3e8b5948, 0xbe8b5948, 0x3e8b5948, 0x3e8b5948, 0xbe8b5948,
        0x3e8b5948, 0xbe8b5948}},
      {InitKind::signed_constant,
       0,
       0,
       27,
       576,
       1.0,
       0,
       2,
       {0xbe8b5948, 0x3e8b5948, 0xbe8b5948, 0x3e8b5948, 0xbe8b5948, 0xbe8b5948, 0xbe8b5948,
        0xbe8b5948, 0x3e8b5948, 0x3e8b5948, 0x3e8b5948, 0x3e8b5948, 0x3e8b5948, 0x3e8b5948,
        0xbe8b5948, 0x3e8b5948}},
      {InitKind::kaiming_uniform,
       0x2aull,
       2,
       300,
       100,
       0.3,
       0,
       65535,
       {0xbde33c59, 0x3e24770d, 0xba960085, 0xbe83ac6d, 0xbda3fd86, 0xbde47ae7, 0xbdc34ac8,
        0xbe017a8d, 0xbe3ab601, 0xbc5d1d06, 0xbd41c898, 0x3e03b1a8, 0x3ddf3a91, 0x3e2a9434,
        0xbdcb80e8, 0xbe71da1c}},
      {InitKind::xavier_normal,
       0x7ull,
       3,
       100,
       10,
       1.0,
       0xffffffe0ull,
       3,
       {0xbc2ba567, 0xbdfd6cf2, 0xbe8bf203, 0xbd549baa, 0xbe2cfd10, 0x3e1533f0, 0xbd8f8e52,
        0x3e80c66f, 0xbdc26ea1, 0xbdc82353, 0xbd5c99b5, 0x3e26d3bc, 0xbe07e20e, 0x3e475a3d,
        0x3d89688c, 0xbeadc0b3}},
      {InitKind::unsigned_constant,
       0x1ull,
       0,
       9,
       9,
       0.5,
       0,
       1,
       {0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab, 0x3f2aaaab,
        0x3f2aaaab, 0x3f2aaaab}},
  };
  for (const Golden& g : cases) {
    BOOST_TEST_CONTEXT(popup::init_name(g.kind)
                       << " seed " << g.seed << " tensor " << g.tensor_index << " start " << g.start
                       << " redraw " << g.g) {
      const TensorSpec tensor = test_tensor(16, g.fan_in, g.fan_out);
      const double sigma = popup::init_std(g.kind, tensor, g.scale_k);
      for (int i = 0; i < 16; ++i) {
        const float got =
            popup::weight_redrawn(g.kind, sigma, g.seed, g.tensor_index, g.start + i, g.g);
        BOOST_TEST_REQUIRE(float_bits(got) == g.bits[i], "element " << i << ": got " << std::hex
                                                                    << float_bits(got)
                                                                    << ", expected " << g.bits[i]);
      }
    }
  }
}

// IteRand's pick numbers (formats/generation.md §10): random_uniform53 of the redraw_pick
// stream, number e, under the training seed, as `tests/reference_generator.py --pick E --seed
// S --tensor T --count 8` prints them (double bit patterns; its lines "# pick ...").
BOOST_AUTO_TEST_CASE(golden_pick_numbers) {
  struct Golden {
    uint64_t train_seed;
    uint32_t tensor_index;
    uint32_t event;
    uint64_t bits[8];
  };
  const Golden cases[] = {
      {0x0ull,
       0,
       1,
       {0x3fb8fbb435f52508ull, 0x3fcee57687aeeedcull, 0x3fe485d395844694ull, 0x3fc1121d0eec3078ull,
        0x3fedcd01f226dcc4ull, 0x3fd26cbdcfb55b94ull, 0x3fdfe781ebe8c158ull,
        0x3fe1ae837ab4b34aull}},
      {0x7ull,
       2,
       65535,
       {0x3fd0a8676afdbc64ull, 0x3fa015a80dd250c0ull, 0x3fe30b832342c2dcull, 0x3fc54d9d4338022cull,
        0x3fe2b89c9d04e075ull, 0x3fcfe5df27fab128ull, 0x3fcf8e9b2fd2dff0ull,
        0x3fe53eda205661d1ull}},
  };
  for (const Golden& g : cases) {
    for (uint64_t i = 0; i < 8; ++i) {
      const double got = popup::random_uniform53(popup::philox_numbered(
          g.train_seed, popup::RandomStream::redraw_pick, g.event, g.tensor_index, i));
      BOOST_TEST(double_bits(got) == g.bits[i], "seed " << g.train_seed << " event " << g.event
                                                        << " element " << i << ": got " << std::hex
                                                        << double_bits(got));
    }
  }
}

// weight_from_block over the weights stream is the generation itself: bit for bit the values
// weights_generate fills, for every distribution, scaled and not, for sizes that end inside a
// vector, a batch and a chunk. (IteRand's redraws apply the same function to other blocks.)
BOOST_AUTO_TEST_CASE(weight_from_block_equals_generate) {
  for (InitKind kind : all_kinds) {
    for (double scale_k : {1.0, 0.3}) {
      for (int64_t n : {1, 13, 10007}) {
        const TensorSpec tensor = test_tensor(n, 147, 1024);
        const double sigma = popup::init_std(kind, tensor, scale_k);
        const std::vector<float> generated = generate(kind, scale_k, 0xfeedull, 5, tensor);
        std::vector<float> from_block(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i)
          from_block[static_cast<size_t>(i)] = popup::weight_from_block(
              kind, sigma, popup::philox_element(0xfeedull, popup::RandomStream::weights, 5, i));
        BOOST_TEST(first_difference(generated, from_block) == -1,
                   popup::init_name(kind) << " scale_k=" << scale_k << " n=" << n);
      }
    }
  }
}

// A redraw is a new value: weight g differs from the generated one and from redraw g + 1
// (normals: all 1000 differ; signed-constant: about half the signs stay).
BOOST_AUTO_TEST_CASE(redraws_are_new_values) {
  const TensorSpec tensor = test_tensor(1000, 64, 64);
  for (InitKind kind : {InitKind::kaiming_normal, InitKind::signed_constant,
                        InitKind::kaiming_uniform, InitKind::xavier_normal}) {
    const double sigma = popup::init_std(kind, tensor, 1.0);
    const std::vector<float> base = generate(kind, 1.0, 10, 1, tensor);
    int same_as_generated = 0, same_as_next = 0;
    for (uint64_t i = 0; i < 1000; ++i) {
      const float one = popup::weight_redrawn(kind, sigma, 10, 1, i, 1);
      same_as_generated += one == base[i];
      same_as_next += one == popup::weight_redrawn(kind, sigma, 10, 1, i, 2);
    }
    const int limit = kind == InitKind::signed_constant ? 600 : 2;
    BOOST_TEST(same_as_generated <= limit, popup::init_name(kind) << ": " << same_as_generated);
    BOOST_TEST(same_as_next <= limit, popup::init_name(kind) << ": " << same_as_next);
  }
}

// The chunked, vectorised (and ISA-cloned) loops give exactly the scalar building blocks'
// values, for sizes that end inside a vector, a batch and a chunk.
BOOST_AUTO_TEST_CASE(loops_match_building_blocks) {
  for (InitKind kind : all_kinds) {
    for (int64_t n : {1, 7, 10007, 100003}) {
      const TensorSpec tensor = test_tensor(n, 147, 1024);
      const double sigma = popup::init_std(kind, tensor, 0.7);
      const std::vector<float> got = generate(kind, 0.7, 99, 4, tensor);
      std::vector<float> expected(n);
      for (int64_t i = 0; i < n; ++i) {
        expected[i] = element_reference(kind, sigma, 99, 4, i);
      }
      BOOST_TEST(first_difference(got, expected) == -1, popup::init_name(kind) << " n=" << n);
    }
  }
}

BOOST_AUTO_TEST_CASE(thread_count_does_not_matter) {
  const int saved = omp_get_max_threads();
  const TensorSpec tensor = test_tensor(1000003, 576, 576);
  for (InitKind kind : all_kinds) {
    omp_set_num_threads(1);
    const std::vector<float> one = generate(kind, 1.0, 3, 2, tensor);
    omp_set_num_threads(2);
    const std::vector<float> two = generate(kind, 1.0, 3, 2, tensor);
    omp_set_num_threads(3);
    const std::vector<float> three = generate(kind, 1.0, 3, 2, tensor);
    BOOST_TEST(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)) == 0,
               popup::init_name(kind)
                   << ": 1 vs 2 threads, first difference at " << first_difference(one, two));
    BOOST_TEST(std::memcmp(one.data(), three.data(), one.size() * sizeof(float)) == 0,
               popup::init_name(kind)
                   << ": 1 vs 3 threads, first difference at " << first_difference(one, three));
  }
  omp_set_num_threads(saved);
}

// Another seed or tensor index gives other values (a few equal signs are expected for
// signed-constant, so count: 1000 values, at most 600 equal).
BOOST_AUTO_TEST_CASE(seed_and_tensor_change_values) {
  const TensorSpec tensor = test_tensor(1000, 64, 64);
  for (InitKind kind : {InitKind::kaiming_normal, InitKind::signed_constant,
                        InitKind::kaiming_uniform, InitKind::xavier_normal}) {
    const std::vector<float> base = generate(kind, 1.0, 10, 1, tensor);
    const std::vector<float> variants[] = {generate(kind, 1.0, 11, 1, tensor),
                                           generate(kind, 1.0, 10 | (1ull << 40), 1, tensor),
                                           generate(kind, 1.0, 10, 2, tensor)};
    for (const std::vector<float>& other : variants) {
      int equal = 0;
      for (size_t i = 0; i < base.size(); ++i) equal += base[i] == other[i];
      const int limit = kind == InitKind::signed_constant ? 600 : 2;
      BOOST_TEST(equal <= limit, popup::init_name(kind) << ": " << equal << " equal");
    }
  }
}

BOOST_AUTO_TEST_CASE(uniform53_edges) {
  BOOST_TEST(popup::random_uniform53({0, 0, 0, 0}) == 0.0);
  BOOST_TEST(popup::random_uniform53({0x7ff, 0, 5, 5}) == 0.0);  // the low 11 bits are dropped
  BOOST_TEST(popup::random_uniform53({0x800, 0, 0, 0}) == 0x1p-53);
  BOOST_TEST(popup::random_uniform53({0, 0x80000000, 0, 0}) == 0.5);
  BOOST_TEST(popup::random_uniform53({0xffffffff, 0xffffffff, 0, 0}) == 1.0 - 0x1p-53);
}

BOOST_AUTO_TEST_CASE(normal_edges) {
  // a = 0, b = 0: u1 = 2^-53, cos(0) = 1: the largest value, sqrt(106 ln 2).
  BOOST_TEST(popup::random_normal({0, 0, 0, 0}) == std::sqrt(106 * std::log(2.0)),
             boost::test_tools::tolerance(1e-15));
  // a = 2^53 - 1: u1 = 1, log 1 = 0, so z = 0 whatever b is.
  BOOST_TEST(popup::random_normal({0xfffff800, 0xffffffff, 1234, 5678}) == 0.0);
  // b = 2^51: cos(2 pi / 4) = 0 exactly.
  BOOST_TEST(popup::random_normal({99, 99, 0, 0x40000000}) == 0.0);
  // b = 2^52: cos(pi) = -1, and a = 2^52 - 1: u1 = 1/2.
  BOOST_TEST(popup::random_normal({0xfffff800, 0x7fffffff, 0, 0x80000000}) ==
                 -std::sqrt(2 * std::log(2.0)),
             boost::test_tools::tolerance(1e-15));
}

// popup_log against long double logl: at most 1 ulp (measured 0.85 over 2e7 points; the
// fdlibm-style evaluation keeps the error under one ulp).
BOOST_AUTO_TEST_CASE(log_accuracy) {
  BOOST_TEST(popup::popup_log(1.0) == 0.0);
  BOOST_TEST(popup::popup_log(0.5) == -std::log(2.0));
  std::vector<double> points = {0x1p-53, 0x1p-52,       0x1.8p-53,     0x1p-1022, 0.25,
                                0.75,    1.0 - 0x1p-53, 1.0 - 0x1p-52, 0.1,       1.0 / 3};
  for (double m : {0x1.6a09e667f3bccp0, 0x1.6a09e667f3bcdp0, 0x1.6a09e667f3bcep0}) {
    for (int e = -53; e <= -1; ++e) points.push_back(std::ldexp(m, e));  // around sqrt(2)
  }
  std::mt19937_64 random(1);
  for (int i = 0; i < 300000; ++i) {
    const double u = static_cast<double>((random() >> 11) + 1) * 0x1p-53;  // as Box-Muller
    points.push_back(i % 2 ? u : std::ldexp(u, -static_cast<int>(random() % 60)));
  }
  for (double x : points) {
    if (x == 1.0) continue;  // above: exactly 0
    const double got = popup::popup_log(x);
    BOOST_TEST_REQUIRE(ulps(got, std::log(static_cast<long double>(x))) <= 1.0,
                       "log(" << std::hexfloat << x << ") = " << got);
  }
}

// popup_cos_2pi against long double cos / sin of the exactly reduced argument
// (std::cos(2 * M_PI * t) itself errs by up to ~1e-15 near the zeros of cos, from rounding
// 2 pi t). At most 2 ulp: measured 1.81 over 2e7 points, from the rounding of 2 pi and
// of x = 2 pi r.
BOOST_AUTO_TEST_CASE(cos_2pi_accuracy) {
  BOOST_TEST(popup::popup_cos_2pi(0.0) == 1.0);
  BOOST_TEST(popup::popup_cos_2pi(0.25) == 0.0);
  BOOST_TEST(popup::popup_cos_2pi(0.5) == -1.0);
  BOOST_TEST(popup::popup_cos_2pi(0.75) == 0.0);
  const long double pi = 3.141592653589793238462643383279502884L;
  std::vector<double> points = {0x1p-53, 1.0 - 0x1p-53};
  for (int k = 0; k < 8; ++k) {
    for (int d = -4; d <= 4; ++d) points.push_back(k / 8.0 + d * 0x1p-53);  // around k/8
  }
  for (int k = 1; k < 16; k += 2) points.push_back(k / 16.0);
  std::mt19937_64 random(2);
  for (int i = 0; i < 300000; ++i) points.push_back((random() >> 11) * 0x1p-53);
  for (double t : points) {
    if (t < 0.0 || t >= 1.0) continue;
    const long double quarter = std::nearbyint(4.0L * t);
    const long double x = 2 * pi * (t - quarter / 4);  // |x| <= pi / 4
    const long double reference[4] = {std::cos(x), -std::sin(x), -std::cos(x), std::sin(x)};
    const long double expected = reference[static_cast<int>(quarter) % 4];
    const double got = popup::popup_cos_2pi(t);
    if (expected == 0.0L) {
      BOOST_TEST_REQUIRE(got == 0.0, "cos_2pi(" << std::hexfloat << t << ") = " << got);
    } else {
      BOOST_TEST_REQUIRE(ulps(got, expected) <= 2.0,
                         "cos_2pi(" << std::hexfloat << t << ") = " << got);
    }
  }
}

// Moments of the two normal distributions over 10^6 values, each within 4 standard errors:
// mean (SE sigma / sqrt n), variance (SE sqrt(2 / n) sigma^2), fourth central moment
// (3 sigma^4, SE sqrt(96 / n) sigma^4) and the fraction within one sigma (0.682689..., SE
// sqrt(p (1 - p) / n)).
BOOST_AUTO_TEST_CASE(normal_moments) {
  struct Case {
    InitKind kind;
    double scale_k;
    double variance;  // target
  };
  const TensorSpec tensor = test_tensor(1000000, 1000, 3000);
  for (const Case& c : {Case{InitKind::kaiming_normal, 1.0, 2.0 / 1000},
                        Case{InitKind::kaiming_normal, 0.25, 2.0 / 250},
                        Case{InitKind::xavier_normal, 1.0, 2.0 / 4000}}) {
    BOOST_TEST_CONTEXT(popup::init_name(c.kind) << " k=" << c.scale_k) {
      const std::vector<float> values = generate(c.kind, c.scale_k, 17, 1, tensor);
      const Moments m = moments(values);
      const double n = static_cast<double>(m.n), sigma = std::sqrt(c.variance);
      BOOST_TEST(std::fabs(m.mean) <= 4 * sigma / std::sqrt(n));
      BOOST_TEST(std::fabs(m.variance - c.variance) <= 4 * std::sqrt(2 / n) * c.variance);
      BOOST_TEST(std::fabs(m.fourth - 3 * c.variance * c.variance) <=
                 4 * std::sqrt(96 / n) * c.variance * c.variance);
      int64_t within = 0;
      for (float v : values) within += std::fabs(v) < sigma;
      const double p = 0.6826894921370859;
      BOOST_TEST(std::fabs(within / n - p) <= 4 * std::sqrt(p * (1 - p) / n));
    }
  }
}

// kaiming-uniform: all values in [-b, b]; mean within 4 SE (b / sqrt(3 n)), variance b^2 / 3
// within 4 SE (sqrt((b^4 / 5 - b^4 / 9) / n)).
BOOST_AUTO_TEST_CASE(uniform_moments) {
  const TensorSpec tensor = test_tensor(1000000, 300, 100);
  const double b = std::sqrt(6.0 / (300 * 0.5));
  BOOST_TEST(popup::init_std(InitKind::kaiming_uniform, tensor, 0.5) == b);
  const std::vector<float> values = generate(InitKind::kaiming_uniform, 0.5, 23, 0, tensor);
  const Moments m = moments(values);
  const double n = static_cast<double>(m.n), b2 = b * b, b4 = b2 * b2;
  float low = 0, high = 0;
  for (float v : values) {
    low = std::min(low, v);
    high = std::max(high, v);
  }
  BOOST_TEST(low >= -static_cast<float>(b));
  BOOST_TEST(high <= static_cast<float>(b));
  BOOST_TEST(low < -0.999 * b);  // the range is used
  BOOST_TEST(high > 0.999 * b);
  BOOST_TEST(std::fabs(m.mean) <= 4 * b / std::sqrt(3 * n));
  BOOST_TEST(std::fabs(m.variance - b2 / 3) <= 4 * std::sqrt((b4 / 5 - b4 / 9) / n));
}

// signed-constant: every value exactly +-(float) sqrt(2 / fan_in); positives a fraction
// within 4 SE (sqrt(1/4 / n)) of 1/2; so the mean within 4 sigma / sqrt(n).
BOOST_AUTO_TEST_CASE(signed_constant_values) {
  const TensorSpec tensor = test_tensor(1000000, 784, 300);
  const float magnitude = static_cast<float>(std::sqrt(2.0 / 784));
  const std::vector<float> values = generate(InitKind::signed_constant, 1.0, 31, 0, tensor);
  int64_t positive = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    BOOST_TEST_REQUIRE((values[i] == magnitude || values[i] == -magnitude),
                       "element " << i << " = " << values[i]);
    positive += values[i] > 0;
  }
  const double n = static_cast<double>(values.size());
  BOOST_TEST(std::fabs(positive / n - 0.5) <= 4 * std::sqrt(0.25 / n));
  const Moments m = moments(values);
  BOOST_TEST(std::fabs(m.mean) <= 4 * magnitude / std::sqrt(n));
}

// unsigned-constant: every value (float) sqrt(2 / (fan_in k)), no randomness at all.
BOOST_AUTO_TEST_CASE(unsigned_constant_values) {
  const TensorSpec tensor = test_tensor(100003, 9, 9);
  const float value = static_cast<float>(std::sqrt(2.0 / (9 * 0.5)));
  for (uint64_t seed : {0ull, 77ull}) {
    const std::vector<float> values = generate(InitKind::unsigned_constant, 0.5, seed, 5, tensor);
    int64_t different = 0;
    for (float v : values) different += v != value;
    BOOST_TEST(different == 0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
