// Round trips of every popup file kind, mask bit packing, atomic output, and rejection of
// damaged files (including thousands of random mutations: each must be refused with a
// popup::Error, or read cleanly with the mask's bits and state unchanged, never crash or throw
// anything else); claims of a header checked against the bytes there, the recipe's weight
// budget, and the popup.train.* values of masks and scores.
#include <boost/test/unit_test.hpp>

#include <random>

#include "error.hpp"
#include "format/mask.hpp"
#include "format/output_file.hpp"
#include "train/train_config.hpp"
#include "temp_dir.hpp"
#include "tiny_network.hpp"

using namespace popup;

BOOST_AUTO_TEST_SUITE(formats)

BOOST_AUTO_TEST_CASE(recipe_round_trip) {
  TempDir dir;
  Recipe r = tiny_recipe();
  r.scale_k = 0.3;
  r.seed = 18446744073709551615u;
  recipe_write(dir.file("a.recipe"), r);
  const PopupFile f = popup_file_read(dir.file("a.recipe"), FileKind::recipe);
  BOOST_TEST(f.tensors.empty());
  BOOST_CHECK_NO_THROW(recipe_check_same(r, f.recipe, "a.recipe"));
  BOOST_TEST(f.recipe.scale_k == 0.3);
  BOOST_TEST(f.recipe.seed == 18446744073709551615u);
}

BOOST_AUTO_TEST_CASE(weights_round_trip_is_exact) {
  TempDir dir;
  const Recipe r = tiny_recipe();
  const auto weights = recipe_generate(r);
  weights_write(dir.file("a.weights"), r, weights);
  BOOST_TEST(weights_from_file(popup_file_read(dir.file("a.weights"))) == weights);
}

BOOST_AUTO_TEST_CASE(streamed_generation_writes_the_same_bytes) {
  TempDir dir;
  Recipe r;
  r.arch = "conv2:width=0.5";
  r.input = {3, 16, 16};
  r.init = InitKind::kaiming_normal;
  r.seed = 99;
  r = recipe_validated(r);
  weights_write(dir.file("memory.weights"), r, recipe_generate(r));
  {
    OutputFile out(dir.file("streamed.weights"));
    weights_write_generated(out, r);
  }
  BOOST_TEST(file_bytes(dir.file("streamed.weights")) == file_bytes(dir.file("memory.weights")));
}

BOOST_AUTO_TEST_CASE(scores_round_trip_keeps_extra_metadata) {
  TempDir dir;
  scores_write(dir.file("a.scores"), tiny_recipe(), tiny_scores(), {{"popup.train.k", "0.5"}});
  const PopupFile f = popup_file_read(dir.file("a.scores"), FileKind::scores);
  BOOST_TEST(f.metadata.at("popup.train.k") == "0.5");
  BOOST_TEST(f.tensors[1].f32 == tiny_scores()[1]);
}

BOOST_AUTO_TEST_CASE(mask_round_trip) {
  TempDir dir;
  const Mask m = tiny_mask();
  mask_write(dir.file("a.mask"), m);
  const Mask back = mask_read(dir.file("a.mask"));
  BOOST_TEST(back.k == 0.5);
  BOOST_REQUIRE(back.layers.size() == m.layers.size());
  for (size_t i = 0; i < m.layers.size(); ++i) {
    BOOST_TEST(back.layers[i].bits == m.layers[i].bits);
    BOOST_TEST(back.layers[i].kept == m.layers[i].kept);
    BOOST_TEST(back.layers[i].shape == m.layers[i].shape);
  }
  BOOST_REQUIRE(back.state.size() == 1u);
  BOOST_TEST(back.state[0].f32 == m.state[0].f32);
  BOOST_TEST(back.extra.at("popup.train.method") == "edge-popup");
}

BOOST_AUTO_TEST_CASE(mask_bits_are_lsb_first_in_row_major_order) {
  const uint8_t keep[10] = {1, 0, 0, 0, 0, 0, 0, 1, 0, 1};
  const std::vector<uint8_t> bits = mask_pack(keep, 10);
  BOOST_TEST(bits == (std::vector<uint8_t>{0x81, 0x02}), boost::test_tools::per_element());
  LayerMask l;
  l.shape = {10};
  l.bits = bits;
  for (int i = 0; i < 10; ++i) BOOST_TEST(l.get(i) == (keep[i] == 1));
}

BOOST_AUTO_TEST_CASE(mask_with_wrong_kept_count_or_padding_is_refused) {
  TempDir dir;
  Mask m = tiny_mask();
  m.layers[1].kept += 1;  // fc2 has 3 weights: metadata disagrees with the bits
  mask_write(dir.file("count.mask"), m);
  BOOST_CHECK_EXCEPTION(mask_read(dir.file("count.mask")), FormatError, [](const FormatError& e) {
    return std::string(e.what()).find("its metadata says") != std::string::npos;
  });
  m = tiny_mask();
  m.layers[1].bits[0] |= 0x80;  // bit 7 of a 3-weight layer
  m.layers[1].kept = 0;
  for (int i = 0; i < 8; ++i) m.layers[1].kept += (m.layers[1].bits[0] >> i) & 1;
  mask_write(dir.file("pad.mask"), m);
  BOOST_CHECK_EXCEPTION(mask_read(dir.file("pad.mask")), FormatError, [](const FormatError& e) {
    return std::string(e.what()).find("bits set past its last weight") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(wrong_kind_is_named) {
  TempDir dir;
  recipe_write(dir.file("a.recipe"), tiny_recipe());
  BOOST_CHECK_EXCEPTION(mask_read(dir.file("a.recipe")), FormatError, [&](const FormatError& e) {
    return e.what() == dir.file("a.recipe") + ": is a recipe file, expected a mask file";
  });
}

BOOST_AUTO_TEST_CASE(recipe_mismatch_names_the_field) {
  Recipe a = tiny_recipe(), b = tiny_recipe();
  b.seed = 2;
  BOOST_CHECK_EXCEPTION(
      recipe_check_same(a, b, "x.mask"), MismatchError, [](const MismatchError& e) {
        return std::string(e.what()) == "x.mask: recipe differs: popup.seed is 2, expected 1";
      });
}

BOOST_AUTO_TEST_CASE(output_appears_only_on_commit) {
  TempDir dir;
  {
    OutputFile out(dir.file("a.bin"));
    out.write("abc", 3);
    BOOST_TEST(!std::filesystem::exists(dir.file("a.bin")));
  }
  BOOST_TEST(dir.entries() == 0u);  // the temporary file is gone too
  {
    OutputFile out(dir.file("a.bin"));
    out.write("abc", 3);
    out.commit();
  }
  BOOST_TEST(file_bytes(dir.file("a.bin")).size() == 3u);
  BOOST_TEST(dir.entries() == 1u);
}

BOOST_AUTO_TEST_CASE(failed_write_leaves_previous_file_intact) {
  TempDir dir;
  file_write(dir.file("a.weights"), {'o', 'l', 'd'});
  Recipe r = tiny_recipe();
  std::vector<std::vector<float>> wrong(1);  // too few tensors: the writer throws
  BOOST_CHECK_THROW(weights_write(dir.file("a.weights"), r, wrong), Error);
  BOOST_TEST(file_bytes(dir.file("a.weights")) == (std::vector<char>{'o', 'l', 'd'}));
  BOOST_TEST(dir.entries() == 1u);
}

BOOST_AUTO_TEST_CASE(metadata_that_could_not_be_read_back_is_refused) {
  TempDir dir;
  BOOST_CHECK_THROW(scores_write(dir.file("a.scores"), tiny_recipe(), tiny_scores(),
                                 {{"popup.train.note", "\xff\xfe"}}),
                    InvalidArgument);
  BOOST_TEST(dir.entries() == 0u);
}

BOOST_AUTO_TEST_CASE(header_is_padded_to_eight_bytes) {
  TempDir dir;
  weights_write(dir.file("a.weights"), tiny_recipe(), recipe_generate(tiny_recipe()));
  const std::vector<char> bytes = file_bytes(dir.file("a.weights"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  BOOST_TEST(n % 8 == 0u);
  BOOST_TEST(bytes.size() == 8 + n + 17 * 4);
}

// What a mask's data says: each layer's name, shape, kept count and bits, and the state's
// values. (A state tensor's name is header text outside the CRC and is not compared: by
// formats/mask.md, popup-eval ignores a statistic whose name matches no BatchNorm, which then
// keeps mean 0 and variance 1. A renamed statistic is therefore accepted; see issue 15.)
bool same_selection(const Mask& a, const Mask& b) {
  if (a.layers.size() != b.layers.size() || a.state.size() != b.state.size()) return false;
  for (size_t i = 0; i < a.layers.size(); ++i) {
    const LayerMask &x = a.layers[i], &y = b.layers[i];
    if (x.name != y.name || x.shape != y.shape || x.kept != y.kept || x.bits != y.bits)
      return false;
  }
  for (size_t i = 0; i < a.state.size(); ++i)
    if (a.state[i].info.shape != b.state[i].info.shape || a.state[i].f32 != b.state[i].f32)
      return false;
  return true;
}

BOOST_AUTO_TEST_CASE(random_mutations_are_refused_cleanly) {
  TempDir dir;
  const std::string good = dir.file("good.mask"), bad = dir.file("bad.mask");
  const Mask written = tiny_mask();
  mask_write(good, written);
  const std::vector<char> original = file_bytes(good);
  std::mt19937 rng(12345);
  int refused = 0, accepted = 0, accepted_other_selection = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::vector<char> bytes = original;
    const size_t pos = rng() % bytes.size();
    switch (trial % 3) {
      case 0: bytes[pos] = static_cast<char>(bytes[pos] ^ (1 << (rng() % 8))); break;
      case 1: bytes.resize(pos); break;
      default:
        bytes.insert(bytes.begin() + static_cast<long>(pos), static_cast<char>(rng()));
        break;
    }
    file_write(bad, bytes);
    try {
      const Mask read = mask_read(bad);
      ++accepted;
      if (!same_selection(read, written)) ++accepted_other_selection;
    } catch (const Error&) {
      ++refused;
    }
  }
  // Only flips that leave a valid file (a metadata digit or letter changed into another
  // valid value, say) can be accepted, and none of them may change what the mask selects (the
  // data is under the CRC, the header's tensor list is checked against the recipe); almost every
  // mutation must be refused.
  BOOST_TEST(accepted_other_selection == 0);
  BOOST_TEST(refused > 2900);
  BOOST_TEST_MESSAGE(refused << " mutations refused, " << accepted << " accepted");
}

// A FormatError whose message contains `text`.
struct says {
  std::string text;
  bool operator()(const Error& e) const {
    BOOST_TEST_MESSAGE("message: " << e.what());
    return e.message().find(text) != std::string::npos;
  }
};

uint64_t header_length(const std::vector<char>& bytes) {
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  return n;
}

BOOST_AUTO_TEST_CASE(a_short_file_is_refused_before_its_data_is_read) {
  TempDir dir;
  const std::string path = dir.file("a.weights");
  weights_write(path, tiny_recipe(), recipe_generate(tiny_recipe()));
  std::vector<char> bytes = file_bytes(path);
  const uint64_t n = header_length(bytes);
  bytes.resize(bytes.size() - 5);
  file_write(path, bytes);
  for (const bool keep : {true, false})
    BOOST_CHECK_EXCEPTION(popup_file_read(path, keep), FormatError,
                          says{"truncated: the header describes 68 bytes of tensor data, the "
                               "file holds 63"});
  bytes.resize(8 + n / 2);
  file_write(path, bytes);
  BOOST_CHECK_EXCEPTION(popup_file_read(path), FormatError,
                        says{"truncated: the header length says " + std::to_string(n) +
                             " bytes, the file holds " + std::to_string(n / 2) + " after it"});
}

BOOST_AUTO_TEST_CASE(data_read_for_its_crc_only_is_still_checked) {
  TempDir dir;
  const std::string path = dir.file("a.scores");
  scores_write(path, tiny_recipe(), tiny_scores(), {});
  BOOST_TEST(popup_file_read(path, false).tensors.empty());
  std::vector<char> bytes = file_bytes(path);
  bytes.back() = static_cast<char>(bytes.back() ^ 1);
  file_write(path, bytes);
  BOOST_CHECK_EXCEPTION(popup_file_read(path, false), FormatError, says{"CRC mismatch"});
}

BOOST_AUTO_TEST_CASE(arrays_of_more_than_16_items_are_refused) {
  TempDir dir;
  const std::string path = dir.file("a.weights");
  std::vector<char> bytes;
  for (const size_t dims : {16, 17}) {
    std::string header = R"({"t":{"dtype":"U8","shape":[)";
    for (size_t i = 0; i < dims; ++i) header += i ? ",1" : "1";
    header += R"(],"data_offsets":[0,1]}})";
    bytes.assign(8, 0);
    bytes[0] = static_cast<char>(header.size());
    bytes.insert(bytes.end(), header.begin(), header.end());
    bytes.push_back(0);
    file_write(path, bytes);
    InputStream in(path);
    if (dims == 16)
      BOOST_CHECK_NO_THROW(SafetensorsReader{in});
    else
      BOOST_CHECK_EXCEPTION(
          SafetensorsReader{in}, FormatError,
          says{"header: malformed JSON at byte 60: an array of more than 16 items"});
  }
}

BOOST_AUTO_TEST_CASE(a_recipe_over_the_weight_budget_is_refused_when_read) {
  TempDir dir;
  const std::string path = dir.file("big.recipe");
  Recipe r = tiny_recipe();
  r.arch = "fc";
  r.input = {1, 64, 64};  // 1259800 weights
  recipe_write(path, recipe_validated(r));
  ::setenv("POPUP_MAX_PARAMS", "1000000", 1);
  BOOST_CHECK_EXCEPTION(popup_file_read(path), FormatError,
                        says{"bad recipe: fc on 1x64x64 with 2 classes has 1259000 weights, more "
                             "than the 1000000 a recipe may have"});
  ::unsetenv("POPUP_MAX_PARAMS");
  BOOST_CHECK_NO_THROW(popup_file_read(path));
}

BOOST_AUTO_TEST_CASE(long_values_are_quoted_shortly) {
  TempDir dir;
  const std::string path = dir.file("a.recipe");
  recipe_write(path, tiny_recipe());
  std::vector<char> bytes = file_bytes(path);
  const std::string header(bytes.begin() + 8, bytes.end());
  const std::string seed = R"("popup.seed":"1")";
  const std::string huge(1000000, '9');
  std::string changed = header.substr(0, header.find(seed)) + R"("popup.seed":")" + huge + '"' +
                        header.substr(header.find(seed) + seed.size());
  changed.append((8 - changed.size() % 8) % 8, ' ');
  bytes.assign(8, 0);
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(changed.size() >> (8 * i));
  bytes.insert(bytes.end(), changed.begin(), changed.end());
  file_write(path, bytes);
  BOOST_CHECK_EXCEPTION(popup_file_read(path), FormatError, [&](const FormatError& e) {
    return e.message() == "popup.seed: not an unsigned integer: '" + huge.substr(0, 40) + "...'";
  });
}

// Every configuration popup-train writes passes the check; each kind of bad value is refused
// naming the file and the key.
BOOST_AUTO_TEST_CASE(train_metadata_is_checked_when_read) {
  TrainConfig c;
  c.data_name = "fashion-mnist";
  BOOST_CHECK_NO_THROW(train_metadata_check(train_config_metadata(c), "m.mask"));
  c.method = Method::supermask;
  c.optimizer.kind = OptimizerKind::adam;
  c.schedule.kind = ScheduleKind::step;
  c.precision = Precision::bf16;
  c.learn_bn = true;
  c.data_name = "cifar10:data";
  BOOST_CHECK_NO_THROW(train_metadata_check(train_config_metadata(c), "m.mask"));
  c.method = Method::global;
  BOOST_CHECK_NO_THROW(train_metadata_check(train_config_metadata(c), "m.mask"));
  const std::vector<std::pair<std::string, std::string>> bad{{"batch_size", "4294967297"},
                                                             {"batch_size", "-5"},
                                                             {"batch_size", "0"},
                                                             {"batch_size", "12x"},
                                                             {"epochs", "99999999999999999999"},
                                                             {"lr", "nan"},
                                                             {"lr", "-inf"},
                                                             {"lr", "0"},
                                                             {"eps", "1e999"},
                                                             {"beta1", "1.5"},
                                                             {"k", "0"},
                                                             {"label_smoothing", "-0.1"},
                                                             {"nesterov", "yes"},
                                                             {"method", "sideways"},
                                                             {"optimizer", "lion"},
                                                             {"schedule", ""},
                                                             {"precision", "fp8"},
                                                             {"data", "imagenet21k"},
                                                             {"density.fc1.weight", "2"},
                                                             {"alpha.fc1.weight", "nan"},
                                                             {"test_acc", "1.01"},
                                                             {"test_loss", "-1"},
                                                             {"test_loss", "lots"}};
  for (const auto& [key, value] : bad) {
    Metadata m = train_config_metadata(c);
    m["popup.train." + key] = value;
    BOOST_TEST_CONTEXT(key << " = " << value) {
      BOOST_CHECK_EXCEPTION(
          train_metadata_check(m, "m.mask"), FormatError, [&](const FormatError& e) {
            return e.file() == "m.mask" && e.message().rfind("popup.train." + key + ": ", 0) == 0;
          });
    }
  }
  Metadata m;
  m["popup.train.note_of_a_later_version"] = "anything";
  BOOST_CHECK_NO_THROW(train_metadata_check(m, "m.mask"));
  // A diverged run records its loss as it was: a measured value may be nan or inf.
  for (const char* loss : {"nan", "-nan", "inf", "2.5"}) {
    m["popup.train.test_loss"] = loss;
    BOOST_CHECK_NO_THROW(train_metadata_check(m, "m.mask"));
  }
}

BOOST_AUTO_TEST_SUITE_END()
