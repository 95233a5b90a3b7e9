// Unit tests for lib/init/philox.hpp: Random123's published known answers for Philox4x32-10, the
// key / counter layout of philox_element and of the numbered streams of IteRand's redraws
// (formats/generation.md §3, §10), with golden blocks from tests/reference_generator.py.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <iterator>
#include <set>

#include "init/philox.hpp"

using popup::PhiloxCounter;
using popup::PhiloxKey;
using popup::RandomStream;

BOOST_AUTO_TEST_SUITE(philox)

// Random123 kat_vectors, lines "philox4x32 10 <counter x4> <key x2> <expected x4>".
BOOST_AUTO_TEST_CASE(known_answers_random123) {
  struct Kat {
    PhiloxCounter counter;
    PhiloxKey key;
    PhiloxCounter expected;
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
      {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
       {0xffffffff, 0xffffffff},
       {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
      {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
       {0xa4093822, 0x299f31d0},
       {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
  };
  for (const Kat& kat : kats) {
    const PhiloxCounter got = popup::philox4x32_10(kat.counter, kat.key);
    for (int i = 0; i < 4; ++i) {
      BOOST_TEST(got[i] == kat.expected[i], "word " << i << ": got " << std::hex << got[i]
                                                    << ", expected " << kat.expected[i]);
    }
  }
}

BOOST_AUTO_TEST_CASE(element_layout) {
  const uint64_t seed = 0x0123456789abcdefull, index = 0xfedcba9876543210ull;
  const PhiloxCounter got = popup::philox_element(seed, RandomStream::scores, 77, index);
  const PhiloxCounter expected =
      popup::philox4x32_10({0x76543210, 0xfedcba98, 77, 1}, {0x89abcdef, 0x01234567});
  BOOST_TEST(got == expected);
  BOOST_TEST(static_cast<uint32_t>(RandomStream::weights) == 0u);
  BOOST_TEST(static_cast<uint32_t>(RandomStream::scores) == 1u);
  BOOST_TEST(static_cast<uint32_t>(RandomStream::data) == 2u);
}

// A numbered stream's counter ends in stream | number << 8: the plain streams' last word is
// below 256, so no numbered block is ever one of theirs.
BOOST_AUTO_TEST_CASE(numbered_layout) {
  BOOST_TEST(static_cast<uint32_t>(RandomStream::redraw) == 5u);
  BOOST_TEST(static_cast<uint32_t>(RandomStream::redraw_pick) == 6u);
  const uint64_t seed = 0x0123456789abcdefull, index = 0xfedcba9876543210ull;
  BOOST_TEST(popup::philox_numbered(seed, RandomStream::redraw, 3, 77, index) ==
             popup::philox4x32_10({0x76543210, 0xfedcba98, 77, 0x305}, {0x89abcdef, 0x01234567}));
  BOOST_TEST(
      popup::philox_numbered(seed, RandomStream::redraw_pick, 0xffffff, 77, index) ==
      popup::philox4x32_10({0x76543210, 0xfedcba98, 77, 0xffffff06}, {0x89abcdef, 0x01234567}));
  // number 0 would be the plain stream (never used: numbers start at 1)
  BOOST_TEST(popup::philox_numbered(seed, RandomStream::redraw, 0, 77, index) ==
             popup::philox_element(seed, RandomStream::redraw, 77, index));
}

// The blocks of the worked example of formats/generation.md §10 (seed 0, tensor 0, element 0),
// as tests/reference_generator.py computes them (philox_numbered there).
BOOST_AUTO_TEST_CASE(numbered_golden_blocks) {
  struct Golden {
    RandomStream stream;
    uint32_t number;
    PhiloxCounter expected;
  };
  const Golden cases[] = {
      {RandomStream::redraw, 1, {0x723db7a5, 0x720ebb15, 0xbf542217, 0x8778db52}},
      {RandomStream::redraw, 2, {0x84083e4a, 0xa729ce49, 0xf5605460, 0xbfe58363}},
      {RandomStream::redraw_pick, 1, {0xf5250cb1, 0x18fbb435, 0x61a04932, 0x40d777cd}},
  };
  for (const Golden& g : cases) {
    const PhiloxCounter got = popup::philox_numbered(0, g.stream, g.number, 0, 0);
    for (int i = 0; i < 4; ++i)
      BOOST_TEST(got[i] == g.expected[i], "stream " << static_cast<uint32_t>(g.stream) << " number "
                                                    << g.number << " word " << i << ": got "
                                                    << std::hex << got[i]);
  }
}

// Changing any one input (seed either half, stream, tensor, index either half) changes the
// block; no two of these 8 variants collide.
BOOST_AUTO_TEST_CASE(inputs_all_matter) {
  const uint64_t seed = 5, index = 9;
  const PhiloxCounter variants[] = {
      popup::philox_element(seed, RandomStream::weights, 3, index),
      popup::philox_element(seed + 1, RandomStream::weights, 3, index),
      popup::philox_element(seed | (1ull << 32), RandomStream::weights, 3, index),
      popup::philox_element(seed, RandomStream::scores, 3, index),
      popup::philox_element(seed, RandomStream::data, 3, index),
      popup::philox_element(seed, RandomStream::weights, 4, index),
      popup::philox_element(seed, RandomStream::weights, 3, index + 1),
      popup::philox_element(seed, RandomStream::weights, 3, index | (1ull << 32)),
  };
  const std::set<PhiloxCounter> distinct(std::begin(variants), std::end(variants));
  BOOST_TEST(distinct.size() == std::size(variants));
}

// Rough check of the output bits: over 2^16 blocks every bit of every word is set about half
// the time (binomial, n = 65536: 4 standard errors = 512).
BOOST_AUTO_TEST_CASE(output_bits_balanced) {
  const int n = 1 << 16;
  int ones[4][32] = {};
  for (int i = 0; i < n; ++i) {
    const PhiloxCounter block = popup::philox_element(1, RandomStream::weights, 0, i);
    for (int w = 0; w < 4; ++w) {
      for (int b = 0; b < 32; ++b) ones[w][b] += (block[w] >> b) & 1;
    }
  }
  for (int w = 0; w < 4; ++w) {
    for (int b = 0; b < 32; ++b) {
      BOOST_TEST(std::abs(ones[w][b] - n / 2) < 512,
                 "word " << w << " bit " << b << ": " << ones[w][b] << " of " << n);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
