// Version fixtures: tests/fixtures/v1 holds one file of each kind as version 1 wrote them,
// tests/fixtures/v2 the version 2 mask of IteRand (formats/mask.md). Every fixture must stay
// readable with the same contents, and the writer must reproduce them byte for byte (files
// without a redraw record are still written as version 1). POPUP_WRITE_FIXTURES=DIR writes
// them anew into DIR/v1 and DIR/v2 (only when a new version is introduced: old fixtures are
// never rewritten).
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "init/weights_generate.hpp"
#include "temp_dir.hpp"
#include "tiny_network.hpp"
#include "train/method.hpp"

using namespace popup;

namespace {

const std::string kFixtures = "tests/fixtures/v1/";
const std::string kFixturesV2 = "tests/fixtures/v2/";

// The v1 mask of the tiny network as an IteRand run could have left it (formats/mask.md, the
// version 2 example): fc1 elements 4 and 8 redrawn once and twice, fc2 element 0 once, fc3
// none; all four are weights the mask keeps.
Mask tiny_iterand_mask() {
  Mask m = tiny_mask();
  m.redraw = kRedrawVersion;
  m.redraws.assign(m.layers.size(), LayerRedraws());
  m.redraws[0] = {{4, 8}, {1, 2}};
  m.redraws[1] = {{0}, {1}};
  m.extra["popup.train.method"] = "iterand";
  m.extra["popup.train.rerandomize_every"] = "300";
  m.extra["popup.train.rerandomize_rate"] = "0.1";
  return m;
}

// Write every kind for the tiny network into `dir` (ending in '/').
void write_all(const std::string& dir) {
  recipe_write(dir + "tiny.recipe", tiny_recipe());
  weights_write(dir + "tiny.weights", tiny_recipe(), recipe_generate(tiny_recipe()));
  scores_write(dir + "tiny.scores", tiny_recipe(), tiny_scores(), {{"popup.train.seed", "7"}});
  mask_write(dir + "tiny.mask", tiny_mask());
}

void write_v2(const std::string& dir) {
  mask_write(dir + "tiny-iterand.mask", tiny_iterand_mask());
}

struct WriteFixturesOnRequest {
  WriteFixturesOnRequest() {
    if (const char* dir = std::getenv("POPUP_WRITE_FIXTURES")) {
      for (const char* v : {"/v1", "/v2"})
        std::filesystem::create_directories(dir + std::string(v));
      write_all(std::string(dir) + "/v1/");
      write_v2(std::string(dir) + "/v2/");
    }
  }
};

float float_of(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(fixtures)

BOOST_AUTO_TEST_CASE(v1_files_are_read_with_their_contents) {
  WriteFixturesOnRequest once;
  const PopupFile recipe = popup_file_read(kFixtures + "tiny.recipe", FileKind::recipe);
  BOOST_TEST(recipe.version == 1);
  BOOST_CHECK_NO_THROW(recipe_check_same(tiny_recipe(), recipe.recipe, "tiny.recipe"));
  BOOST_TEST(weights_from_file(popup_file_read(kFixtures + "tiny.weights", FileKind::weights)) ==
             recipe_generate(tiny_recipe()));
  const PopupFile scores = popup_file_read(kFixtures + "tiny.scores", FileKind::scores);
  BOOST_TEST(scores.tensors[0].f32 == tiny_scores()[0]);
  const Mask mask = mask_read(kFixtures + "tiny.mask");
  const Mask expected = tiny_mask();
  for (size_t i = 0; i < expected.layers.size(); ++i)
    BOOST_TEST(mask.layers[i].bits == expected.layers[i].bits);
  BOOST_TEST(mask.state[0].f32 == expected.state[0].f32);
  BOOST_TEST(mask.redraw == 0);
}

BOOST_AUTO_TEST_CASE(writer_reproduces_v1_fixtures_byte_for_byte) {
  TempDir dir;
  write_all(dir.path.string() + "/");
  for (const char* name : {"tiny.recipe", "tiny.weights", "tiny.scores", "tiny.mask"}) {
    BOOST_TEST_CONTEXT(name) {
      const std::vector<char> fixture = file_bytes(kFixtures + name);
      BOOST_TEST(!fixture.empty());
      BOOST_TEST(file_bytes(dir.file(name)) == fixture);
    }
  }
}

BOOST_AUTO_TEST_CASE(v2_mask_is_read_with_its_contents) {
  const PopupFile file = popup_file_read(kFixturesV2 + "tiny-iterand.mask", FileKind::mask);
  BOOST_TEST(file.version == 2);
  BOOST_TEST(file.metadata.at("popup.redraw") == "1");
  const Mask mask = mask_read(kFixturesV2 + "tiny-iterand.mask");
  const Mask expected = tiny_iterand_mask();
  BOOST_TEST(mask.redraw == 1);
  BOOST_TEST_REQUIRE(mask.redraws.size() == 3u);
  for (size_t i = 0; i < expected.layers.size(); ++i) {
    BOOST_TEST(mask.layers[i].bits == expected.layers[i].bits);
    BOOST_TEST(mask.redraws[i].index == expected.redraws[i].index);
    BOOST_TEST(mask.redraws[i].count == expected.redraws[i].count);
  }
  BOOST_TEST(mask.state[0].f32 == expected.state[0].f32);
  BOOST_TEST(mask.extra.at("popup.train.method") == "iterand");
}

BOOST_AUTO_TEST_CASE(writer_reproduces_v2_fixture_byte_for_byte) {
  TempDir dir;
  write_v2(dir.path.string() + "/");
  const std::vector<char> fixture = file_bytes(kFixturesV2 + "tiny-iterand.mask");
  BOOST_TEST(!fixture.empty());
  BOOST_TEST(file_bytes(dir.file("tiny-iterand.mask")) == fixture);
}

// The rebuilt weights of the worked example of formats/mask.md (version 2): generate from the
// recipe, put the redrawn values at the recorded positions, apply the mask. The redrawn values
// are those `tests/reference_generator.py --init signed-constant --seed 1 --tensor T --fan-in F
// --redraw G` prints (float32 bits); the other kept weights keep their generated values.
BOOST_AUTO_TEST_CASE(v2_mask_rebuilds_the_redrawn_weights) {
  const Mask mask = mask_read(kFixturesV2 + "tiny-iterand.mask");
  const std::vector<std::vector<float>> generated = recipe_generate(mask.recipe);
  std::vector<std::vector<float>> w = generated;
  mask_effective_weights(mask, w);
  const float a = float_of(0x3f3504f3), b = float_of(0x3f5105ec), c = float_of(0x3fb504f3);
  // fc1: generated - - + - + + + + - + + -; element 4 after 1 redraw -, element 8 after 2 +
  BOOST_TEST(generated[0][4] == a);
  BOOST_TEST(generated[0][8] == -a);
  const std::vector<float> fc1{0, -a, 0, -a, -a, a, a, 0, a, a, 0, -a};
  BOOST_TEST(w[0] == fc1);
  // fc2: generated + + +; element 0 after 1 redraw -
  BOOST_TEST(generated[1][0] == b);
  BOOST_TEST(w[1] == (std::vector<float>{-b, 0, 0}));
  BOOST_TEST(w[2] == (std::vector<float>{0, -c}));  // fc3: no record
  // the same values from the library's redraw function
  const auto specs = recipe_tensors(mask.recipe);
  const double sigma0 = init_std(mask.recipe.init, specs[0], mask.recipe.scale_k);
  const double sigma1 = init_std(mask.recipe.init, specs[1], mask.recipe.scale_k);
  BOOST_TEST(weight_redrawn(mask.recipe.init, sigma0, 1, 0, 4, 1) == -a);
  BOOST_TEST(weight_redrawn(mask.recipe.init, sigma0, 1, 0, 8, 2) == a);
  BOOST_TEST(weight_redrawn(mask.recipe.init, sigma1, 1, 1, 0, 1) == -b);
}

BOOST_AUTO_TEST_SUITE_END()
