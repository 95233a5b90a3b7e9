// The graphs of the architecture registry: op order, shapes, residual wiring, BatchNorm names.
#include <boost/test/unit_test.hpp>

#include "error.hpp"
#include "net/network.hpp"

using namespace popup;

BOOST_AUTO_TEST_SUITE(network)

BOOST_AUTO_TEST_CASE(conv4_is_convs_relus_pools_then_three_linears) {
  const Network net = arch_network("conv4", {1, 28, 28}, 10);
  const OpKind expected[] = {OpKind::conv, OpKind::relu, OpKind::conv, OpKind::relu,
                             OpKind::maxpool2, OpKind::conv, OpKind::relu, OpKind::conv,
                             OpKind::relu, OpKind::maxpool2, OpKind::linear, OpKind::relu,
                             OpKind::linear, OpKind::relu, OpKind::linear};
  BOOST_REQUIRE(net.ops.size() == std::size(expected));
  for (size_t i = 0; i < net.ops.size(); ++i) {
    BOOST_TEST_CONTEXT("op " << i) {
      BOOST_TEST((net.ops[i].kind == expected[i]));
      BOOST_TEST(net.ops[i].inputs == std::vector<int>{static_cast<int>(i) - 1});
    }
  }
  BOOST_TEST(net.ops[9].c == 128);
  BOOST_TEST(net.ops[9].h == 7);
  BOOST_TEST(net.ops[10].tensor == 4);  // fc1
  BOOST_TEST(net.ops.back().c == 10);
  BOOST_TEST(net.tensors.size() == 7u);
}

BOOST_AUTO_TEST_CASE(resnet18_wires_residuals_and_names_batchnorms) {
  const Network net = arch_network("resnet18", {3, 32, 32}, 10);
  const std::vector<std::string> bns = network_batchnorms(net);
  BOOST_TEST(bns.size() == 20u);  // stem + 2 per block x 8 + 3 downsamples
  BOOST_TEST(bns.front() == "bn1");
  BOOST_TEST(bns[1] == "layer1.0.bn1");
  int adds = 0;
  for (const Op& op : net.ops) {
    if (op.kind != OpKind::add) continue;
    ++adds;
    BOOST_REQUIRE(op.inputs.size() == 2u);
    const Op& a = net.ops[static_cast<size_t>(op.inputs[0])];
    const Op& b = net.ops[static_cast<size_t>(op.inputs[1])];
    BOOST_TEST((a.c == b.c && a.h == b.h && a.w == b.w));
  }
  BOOST_TEST(adds == 8);
  // layer2.0: stride 2 halves 32 -> 16; the downsample conv reads the block's input.
  for (const Op& op : net.ops) {
    if (op.kind == OpKind::conv && net.tensors[static_cast<size_t>(op.tensor)].name ==
                                       "layer2.0.downsample.0.weight") {
      BOOST_TEST(op.h == 16);
      const Op& input = net.ops[static_cast<size_t>(op.inputs[0])];
      BOOST_TEST((input.kind == OpKind::relu && input.c == 64 && input.h == 32));
    }
  }
  BOOST_TEST((net.ops[net.ops.size() - 2].kind == OpKind::global_avgpool));
  BOOST_TEST(net.ops.back().c == 10);
}

BOOST_AUTO_TEST_CASE(graph_tensors_equal_arch_tensors) {
  for (const char* spec : {"fc", "conv2:width=0.5", "conv6", "conv8", "resnet34"}) {
    BOOST_TEST_CONTEXT(spec) {
      const auto net = arch_network(spec, {3, 32, 32}, 10);
      const auto tensors = arch_tensors(spec, {3, 32, 32}, 10);
      BOOST_REQUIRE(net.tensors.size() == tensors.size());
      for (size_t i = 0; i < tensors.size(); ++i) BOOST_TEST(net.tensors[i].shape == tensors[i].shape);
    }
  }
}

BOOST_AUTO_TEST_CASE(imagenet_resnets_have_tensors_but_no_executable_graph) {
  BOOST_CHECK_NO_THROW(arch_tensors("resnet50", {3, 224, 224}, 1000));
  BOOST_CHECK_EXCEPTION(arch_network("resnet50", {3, 224, 224}, 1000), InvalidArgument,
                        [](const InvalidArgument& e) {
                          return std::string(e.what()).find("not implemented") != std::string::npos;
                        });
}

BOOST_AUTO_TEST_SUITE_END()
