// Version fixtures: tests/fixtures/v1 holds one file of each kind as version 1 wrote them.
// Every fixture must stay readable with the same contents, and while popup writes version 1
// the writer must reproduce them byte for byte. POPUP_WRITE_FIXTURES=DIR writes them anew
// (only when a new version is introduced: old fixtures are never rewritten).
#include <boost/test/unit_test.hpp>

#include <cstdlib>

#include "temp_dir.hpp"
#include "tiny_network.hpp"

using namespace popup;

namespace {

const std::string kFixtures = "tests/fixtures/v1/";

// Write every kind for the tiny network into `dir` (ending in '/').
void write_all(const std::string& dir) {
  recipe_write(dir + "tiny.recipe", tiny_recipe());
  weights_write(dir + "tiny.weights", tiny_recipe(), recipe_generate(tiny_recipe()));
  scores_write(dir + "tiny.scores", tiny_recipe(), tiny_scores(), {{"popup.train.seed", "7"}});
  mask_write(dir + "tiny.mask", tiny_mask());
}

struct WriteFixturesOnRequest {
  WriteFixturesOnRequest() {
    if (const char* dir = std::getenv("POPUP_WRITE_FIXTURES")) write_all(std::string(dir) + "/");
  }
};

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

BOOST_AUTO_TEST_SUITE_END()
