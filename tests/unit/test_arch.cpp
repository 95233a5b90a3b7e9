// Unit tests of the architecture registry (lib/net/arch.cpp): weight counts against the paper's
// and torchvision's numbers, tensor shapes and order, canonical specs and every rejection.
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "net/arch.hpp"
#include "error.hpp"

using popup::InputShape;
using popup::TensorSpec;

namespace {

const InputShape cifar{3, 32, 32};
const InputShape mnist{1, 28, 28};
const InputShape imagenet{3, 224, 224};

int64_t weight_count(const std::string& spec, const InputShape& input, int64_t classes) {
  return popup::tensors_numel(popup::arch_tensors(spec, input, classes));
}

// The tensor called `name`; fails the test when there is none.
TensorSpec tensor_find(const std::vector<TensorSpec>& tensors, const std::string& name) {
  for (const TensorSpec& t : tensors)
    if (t.name == name) return t;
  BOOST_FAIL("no tensor " + name);
  return {};
}

std::vector<int64_t> shape_of(const std::string& spec, const InputShape& input, int64_t classes,
                              const std::string& name) {
  return tensor_find(popup::arch_tensors(spec, input, classes), name).shape;
}

// Predicate for BOOST_CHECK_EXCEPTION: an InvalidArgument whose message contains `text`.
struct message_has {
  std::string text;
  bool operator()(const popup::InvalidArgument& e) const {
    BOOST_TEST_MESSAGE("message: " << e.what());
    return e.message().find(text) != std::string::npos && e.file().empty();
  }
};

void check_tensors_rejected(const std::string& spec, const InputShape& input, int64_t classes,
                            const std::string& text) {
  BOOST_TEST_CONTEXT(spec << " on " << popup::input_shape_format(input)) {
    BOOST_CHECK_EXCEPTION(popup::arch_tensors(spec, input, classes), popup::InvalidArgument,
                          message_has{text});
  }
}

void check_shape_rejected(const std::string& text) {
  BOOST_TEST_CONTEXT("input '" << text << "'") {
    BOOST_CHECK_THROW(popup::input_shape_parse(text), popup::InvalidArgument);
  }
}

using Shape = std::vector<int64_t>;

}  // namespace

BOOST_AUTO_TEST_SUITE(arch)

// The edge-popup paper's Conv-N counts (3x32x32, 10 classes) and LeNet-300-100 on 28x28.
BOOST_AUTO_TEST_CASE(paper_weight_counts) {
  BOOST_TEST(weight_count("conv2", cifar, 10) == 4300992);
  BOOST_TEST(weight_count("conv4", cifar, 10) == 2425024);
  BOOST_TEST(weight_count("conv6", cifar, 10) == 2261184);
  BOOST_TEST(weight_count("conv8", cifar, 10) == 5275840);
  BOOST_TEST(weight_count("fc", mnist, 10) == 266200);
}

// Reference counts printed by scripts/count-torchvision-params.py (Debian python3-torchvision
// 0.14.1): conv + linear weights of torchvision's models, no biases, no BatchNorm; resnet18/34
// with a 3x3 stride-1 conv1 and no max-pool.
BOOST_AUTO_TEST_CASE(torchvision_weight_counts) {
  BOOST_TEST(weight_count("resnet18", cifar, 10) == 11164352);
  BOOST_TEST(weight_count("resnet34", cifar, 10) == 21265088);
  BOOST_TEST(weight_count("resnet50", imagenet, 1000) == 25502912);
  BOOST_TEST(weight_count("resnet101", imagenet, 1000) == 44442816);
  BOOST_TEST(weight_count("wide-resnet50", imagenet, 1000) == 68814016);
  BOOST_TEST(weight_count("wide-resnet101", imagenet, 1000) == 126747840);
  BOOST_TEST(weight_count("resnet50", cifar, 10) == 23475392);
  BOOST_TEST(weight_count("resnet101", cifar, 10) == 42415296);
  BOOST_TEST(weight_count("wide-resnet50", cifar, 10) == 66786496);
  BOOST_TEST(weight_count("wide-resnet101", cifar, 10) == 124720320);
}

BOOST_AUTO_TEST_CASE(conv_n_shapes) {
  const std::vector<TensorSpec> conv4 = popup::arch_tensors("conv4", cifar, 10);
  BOOST_TEST_REQUIRE(conv4.size() == 7u);
  const char* names[] = {"conv1.weight", "conv2.weight", "conv3.weight", "conv4.weight",
                         "fc1.weight",   "fc2.weight",   "fc3.weight"};
  for (size_t i = 0; i < conv4.size(); ++i) BOOST_TEST(conv4[i].name == names[i]);
  BOOST_TEST(conv4[0].shape == Shape({64, 3, 3, 3}), boost::test_tools::per_element());
  BOOST_TEST(conv4[3].shape == Shape({128, 128, 3, 3}), boost::test_tools::per_element());
  BOOST_TEST(conv4[4].shape == Shape({256, 8192}), boost::test_tools::per_element());
  BOOST_TEST(conv4[6].shape == Shape({10, 256}), boost::test_tools::per_element());
  BOOST_TEST(shape_of("conv4", mnist, 10, "fc1.weight") == Shape({256, 128 * 7 * 7}),
             boost::test_tools::per_element());
  BOOST_TEST(shape_of("conv4", mnist, 10, "conv1.weight") == Shape({64, 1, 3, 3}),
             boost::test_tools::per_element());
  // Odd sizes pool with floor: 33 -> 16 -> 8 -> 4.
  BOOST_TEST(
      shape_of("conv6", InputShape{3, 33, 35}, 10, "fc1.weight") == Shape({256, 256 * 4 * 4}),
      boost::test_tools::per_element());
  BOOST_TEST(shape_of("conv8", cifar, 100, "fc1.weight") == Shape({256, 512 * 2 * 2}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(fans_stride_pad) {
  const std::vector<TensorSpec> conv2 = popup::arch_tensors("conv2", cifar, 10);
  BOOST_TEST((conv2[1].kind == popup::LayerKind::conv));
  BOOST_TEST(conv2[1].fan_in == 64 * 9);
  BOOST_TEST(conv2[1].fan_out == 64 * 9);
  BOOST_TEST(conv2[1].stride == 1);
  BOOST_TEST(conv2[1].pad == 1);
  BOOST_TEST((conv2[2].kind == popup::LayerKind::linear));
  BOOST_TEST(conv2[2].fan_in == 64 * 16 * 16);
  BOOST_TEST(conv2[2].fan_out == 256);
  const std::vector<TensorSpec> r50 = popup::arch_tensors("resnet50", imagenet, 1000);
  BOOST_TEST(r50[0].shape == Shape({64, 3, 7, 7}), boost::test_tools::per_element());
  BOOST_TEST(r50[0].stride == 2);
  BOOST_TEST(r50[0].pad == 3);
  BOOST_TEST(r50[0].fan_in == 3 * 49);
  const TensorSpec down = tensor_find(r50, "layer3.0.downsample.0.weight");
  BOOST_TEST(down.shape == Shape({1024, 512, 1, 1}), boost::test_tools::per_element());
  BOOST_TEST(down.stride == 2);
  BOOST_TEST(down.pad == 0);
  BOOST_TEST(down.fan_out == 1024);
}

BOOST_AUTO_TEST_CASE(width_option) {
  const std::vector<TensorSpec> wide = popup::arch_tensors("conv4:width=2", cifar, 10);
  BOOST_TEST(wide[0].shape == Shape({128, 3, 3, 3}), boost::test_tools::per_element());
  BOOST_TEST(wide[2].shape == Shape({256, 128, 3, 3}), boost::test_tools::per_element());
  BOOST_TEST(wide[4].shape == Shape({512, 256 * 8 * 8}), boost::test_tools::per_element());
  BOOST_TEST(wide[5].shape == Shape({512, 512}), boost::test_tools::per_element());
  BOOST_TEST(wide[6].shape == Shape({10, 512}), boost::test_tools::per_element());
  // int() truncation as the official code, not rounding: int(64 * 0.3) = 19, int(256 * 0.3) = 76.
  const std::vector<TensorSpec> thin = popup::arch_tensors("conv2:width=0.3", cifar, 10);
  BOOST_TEST(thin[0].shape == Shape({19, 3, 3, 3}), boost::test_tools::per_element());
  BOOST_TEST(thin[2].shape == Shape({76, 19 * 16 * 16}), boost::test_tools::per_element());
  BOOST_TEST(shape_of("fc:width=0.5", mnist, 10, "fc2.weight") == Shape({50, 150}),
             boost::test_tools::per_element());
  BOOST_TEST(weight_count("conv6:width=1", cifar, 10) == weight_count("conv6", cifar, 10));
}

BOOST_AUTO_TEST_CASE(canonical_form) {
  BOOST_TEST(popup::arch_canonical("conv6:width=2") == "conv6:width=2");
  BOOST_TEST(popup::arch_canonical("conv6:width=1") == "conv6");
  BOOST_TEST(popup::arch_canonical("conv6:width=1.0") == "conv6");
  BOOST_TEST(popup::arch_canonical("conv6:width=2.0") == "conv6:width=2");
  BOOST_TEST(popup::arch_canonical("conv6:width=0.50") == "conv6:width=0.5");
  BOOST_TEST(popup::arch_canonical("fc:width=0.1") == "fc:width=0.1");
  BOOST_TEST(popup::arch_canonical("conv2") == "conv2");
  BOOST_TEST(popup::arch_canonical("wide-resnet50") == "wide-resnet50");
  // Full precision survives the round trip.
  const std::string precise = popup::arch_canonical("conv4:width=1.2345678901234567");
  BOOST_TEST(popup::arch_canonical(precise) == precise);
  BOOST_TEST(precise == "conv4:width=1.2345678901234567");
}

BOOST_AUTO_TEST_CASE(spec_errors) {
  BOOST_CHECK_EXCEPTION(popup::arch_canonical("conv5"), popup::InvalidArgument,
                        message_has{"unknown architecture 'conv5' (known: fc, conv2, conv4"});
  BOOST_CHECK_EXCEPTION(popup::arch_canonical("conv4:depth=3"), popup::InvalidArgument,
                        message_has{"conv4: unknown option 'depth'"});
  BOOST_CHECK_EXCEPTION(popup::arch_canonical("conv4:width=-1"), popup::InvalidArgument,
                        message_has{"conv4: width must be a positive number, got '-1'"});
  BOOST_CHECK_EXCEPTION(popup::arch_canonical("resnet18:width=2"), popup::InvalidArgument,
                        message_has{"resnet18: unknown option 'width'"});
  BOOST_CHECK_EXCEPTION(popup::arch_canonical("conv2:width=0.01"), popup::InvalidArgument,
                        message_has{"no units"});
  BOOST_CHECK_EXCEPTION(popup::arch_canonical("conv2:width=2,width=2"), popup::InvalidArgument,
                        message_has{"given twice"});
  const char* bad[] = {"",
                       "Conv4",
                       "conv4:",
                       "conv4:width",
                       "conv4:width=",
                       "conv4:=2",
                       "conv4:width=2,",
                       "conv4:width=0",
                       "conv4:width=abc",
                       "conv4:width=2x",
                       "conv4:width= 2",
                       "conv4:width=nan",
                       "conv4:width=inf",
                       "conv4:width=1e9",
                       "fc:width=0.001"};
  for (const char* spec : bad) {
    BOOST_TEST_CONTEXT("spec '" << spec << "'") {
      BOOST_CHECK_THROW(popup::arch_canonical(spec), popup::InvalidArgument);
      BOOST_CHECK_THROW(popup::arch_tensors(spec, cifar, 10), popup::InvalidArgument);
    }
  }
  // The narrowest fc layer is 100 wide: int(100 * 0.01) = 1 is still allowed.
  BOOST_TEST(shape_of("fc:width=0.01", mnist, 10, "fc2.weight") == Shape({1, 3}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(input_and_class_errors) {
  check_tensors_rejected("conv8", InputShape{1, 8, 8}, 10,
                         "input 1x8x8 is too small for conv8: the feature map reaches 0x0 after "
                         "4 poolings");
  check_tensors_rejected("conv4", InputShape{1, 2, 2}, 10,
                         "input 1x2x2 is too small for conv4: the feature map reaches 0x0 after "
                         "2 poolings");
  check_tensors_rejected("conv2", InputShape{1, 1, 64}, 10, "reaches 0x32 after 1 pooling");
  check_tensors_rejected("conv4", cifar, 0, "conv4: classes must be at least 1, got 0");
  check_tensors_rejected("resnet18", cifar, -3, "classes must be at least 1");
  check_tensors_rejected("fc", InputShape{0, 28, 28}, 10, "0x28x28");
  check_tensors_rejected("fc:width=1024", InputShape{65536, 65536, 65536}, 10,
                         "input 65536x65536x65536 has 281474976710656 values per example, more "
                         "than 16777216");
  // The smallest inputs that still work.
  BOOST_TEST(shape_of("conv8", InputShape{1, 16, 16}, 10, "fc1.weight") == Shape({256, 512}),
             boost::test_tools::per_element());
  BOOST_TEST(weight_count("resnet50", InputShape{3, 1, 1}, 10) ==
             weight_count("resnet50", cifar, 10));
}

// The weight budget (formats/recipe.md): checked on shapes alone, before any weight exists.
BOOST_AUTO_TEST_CASE(weight_budget) {
  BOOST_TEST(popup::kDefaultMaxParams == 268435456);
  BOOST_TEST(weight_count("wide-resnet50", InputShape{3, 224, 224}, 1000) <
             popup::kDefaultMaxParams);
  BOOST_TEST(weight_count("conv8:width=2", InputShape{3, 224, 224}, 1000) <
             popup::kDefaultMaxParams);
  check_tensors_rejected("fc", InputShape{1, 4096, 4096}, 10,
                         "fc on 1x4096x4096 with 10 classes has 5033195800 weights, more than the "
                         "268435456 a recipe may have (POPUP_MAX_PARAMS raises it)");
  check_tensors_rejected("fc", InputShape{1, 8192, 8192}, 10,
                         "input 1x8192x8192 has 67108864 values per example, more than 16777216");
  check_tensors_rejected("conv8:width=1024", InputShape{3, 2048, 2048}, 10,
                         "more than the 268435456");
  ::setenv("POPUP_MAX_PARAMS", "6000000000", 1);
  BOOST_TEST(weight_count("fc", InputShape{1, 4096, 4096}, 10) == 5033195800);
  ::setenv("POPUP_MAX_PARAMS", "1000", 1);
  check_tensors_rejected("fc", InputShape{1, 28, 28}, 10, "has 266200 weights, more than the 1000");
  for (const char* bad : {"0", "-1", "1e9", "many"}) {
    ::setenv("POPUP_MAX_PARAMS", bad, 1);
    check_tensors_rejected("fc", InputShape{1, 28, 28}, 10, "POPUP_MAX_PARAMS must be");
  }
  ::unsetenv("POPUP_MAX_PARAMS");
  BOOST_TEST(popup::arch_max_params() == popup::kDefaultMaxParams);
}

BOOST_AUTO_TEST_CASE(input_shape_text) {
  const InputShape parsed = popup::input_shape_parse("3x32x32");
  BOOST_TEST((parsed == cifar));
  BOOST_TEST(popup::input_shape_format(parsed) == "3x32x32");
  BOOST_TEST((popup::input_shape_parse("1x65536x1") == InputShape{1, 65536, 1}));
  const char* bad[] = {"3x32",      "0x32x32",
                       "3x32x32x1", "ax1x1",
                       "",          "3x32x",
                       "x32x32",    "3X32x32",
                       "3x-32x32",  "3x+32x32",
                       " 3x32x32",  "3x32x32 ",
                       "1x65537x1", "3x32x99999999999999999999"};
  for (const char* text : bad) check_shape_rejected(text);
  BOOST_CHECK_EXCEPTION(popup::input_shape_parse("3x32"), popup::InvalidArgument,
                        message_has{"input shape '3x32' must be CxHxW"});
}

// Module registration order of torchvision's BasicBlock: conv1, conv2, then downsample.
BOOST_AUTO_TEST_CASE(resnet18_order) {
  const std::vector<TensorSpec> tensors = popup::arch_tensors("resnet18", cifar, 10);
  BOOST_TEST_REQUIRE(tensors.size() == 21u);
  const char* first[] = {
      "conv1.weight",          "layer1.0.conv1.weight",        "layer1.0.conv2.weight",
      "layer1.1.conv1.weight", "layer1.1.conv2.weight",        "layer2.0.conv1.weight",
      "layer2.0.conv2.weight", "layer2.0.downsample.0.weight", "layer2.1.conv1.weight"};
  for (size_t i = 0; i < std::size(first); ++i) BOOST_TEST(tensors[i].name == first[i]);
  BOOST_TEST(tensors[0].shape == Shape({64, 3, 3, 3}), boost::test_tools::per_element());
  BOOST_TEST(tensors[0].stride == 1);
  BOOST_TEST(tensors[5].shape == Shape({128, 64, 3, 3}), boost::test_tools::per_element());
  BOOST_TEST(tensors[5].stride == 2);
  BOOST_TEST(tensors[7].shape == Shape({128, 64, 1, 1}), boost::test_tools::per_element());
  BOOST_TEST(tensors[7].stride == 2);
  BOOST_TEST(tensors.back().name == "fc.weight");
  BOOST_TEST(tensors.back().shape == Shape({10, 512}), boost::test_tools::per_element());
}

// Bottleneck order conv1, conv2, conv3, downsample; stride on the 3x3 conv (torchvision v1.5).
BOOST_AUTO_TEST_CASE(bottleneck_shapes) {
  const std::vector<TensorSpec> r50 = popup::arch_tensors("resnet50", imagenet, 1000);
  BOOST_TEST(r50.size() == 54u);
  const char* first[] = {
      "conv1.weight",          "layer1.0.conv1.weight",        "layer1.0.conv2.weight",
      "layer1.0.conv3.weight", "layer1.0.downsample.0.weight", "layer1.1.conv1.weight"};
  for (size_t i = 0; i < std::size(first); ++i) BOOST_TEST(r50[i].name == first[i]);
  BOOST_TEST(r50[4].shape == Shape({256, 64, 1, 1}), boost::test_tools::per_element());
  BOOST_TEST(r50[4].stride == 1);
  const TensorSpec l2_conv1 = tensor_find(r50, "layer2.0.conv1.weight");
  const TensorSpec l2_conv2 = tensor_find(r50, "layer2.0.conv2.weight");
  BOOST_TEST(l2_conv1.stride == 1);
  BOOST_TEST(l2_conv2.stride == 2);
  BOOST_TEST(l2_conv2.shape == Shape({128, 128, 3, 3}), boost::test_tools::per_element());
  BOOST_TEST(r50.back().shape == Shape({1000, 2048}), boost::test_tools::per_element());
  BOOST_TEST(popup::arch_tensors("resnet101", imagenet, 1000).size() == 105u);
  BOOST_TEST(
      shape_of("wide-resnet50", imagenet, 1000, "layer1.0.conv2.weight") == Shape({128, 128, 3, 3}),
      boost::test_tools::per_element());
  BOOST_TEST(shape_of("wide-resnet50", imagenet, 1000, "layer4.2.conv3.weight") ==
                 Shape({2048, 1024, 1, 1}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(registry_listing) {
  const std::vector<popup::ArchInfo>& list = popup::arch_list();
  const char* names[] = {"fc",        "conv2",         "conv4",         "conv6",
                         "conv8",     "resnet18",      "resnet34",      "resnet50",
                         "resnet101", "wide-resnet50", "wide-resnet101"};
  BOOST_TEST_REQUIRE(list.size() == std::size(names));
  for (size_t i = 0; i < list.size(); ++i) {
    BOOST_TEST(list[i].name == names[i]);
    BOOST_TEST(!list[i].description.empty());
    BOOST_TEST(popup::arch_canonical(list[i].name) == list[i].name);
  }
}

BOOST_AUTO_TEST_CASE(numel_sums) {
  const std::vector<TensorSpec> fc = popup::arch_tensors("fc", mnist, 10);
  BOOST_TEST(fc[0].numel() == 300 * 784);
  BOOST_TEST(fc[2].numel() == 10 * 100);
  BOOST_TEST(popup::tensors_numel({}) == 0);
  BOOST_TEST(popup::tensors_numel({fc[1], fc[2]}) == 30000 + 1000);
}

BOOST_AUTO_TEST_SUITE_END()
