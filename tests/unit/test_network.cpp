// The graphs of the architecture registry: op order, shapes, residual wiring, BatchNorm names;
// and the builder they and the tests' hand-built networks are made with.
#include <boost/test/unit_test.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "backend/network_graph.hpp"
#include "error.hpp"
#include "net/net_builder.hpp"
#include "net/network.hpp"

using namespace popup;

BOOST_AUTO_TEST_SUITE(network)

BOOST_AUTO_TEST_CASE(conv4_is_convs_relus_pools_then_three_linears) {
  const Network net = arch_network("conv4", {1, 28, 28}, 10);
  const OpKind expected[] = {OpKind::conv,    OpKind::relu,    OpKind::conv,   OpKind::relu,
                             OpKind::maxpool, OpKind::conv,    OpKind::relu,   OpKind::conv,
                             OpKind::relu,    OpKind::maxpool, OpKind::linear, OpKind::relu,
                             OpKind::linear,  OpKind::relu,    OpKind::linear};
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
    if (op.kind == OpKind::conv &&
        net.tensors[static_cast<size_t>(op.tensor)].name == "layer2.0.downsample.0.weight") {
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
      for (size_t i = 0; i < tensors.size(); ++i)
        BOOST_TEST(net.tensors[i].shape == tensors[i].shape);
    }
  }
}

// The ImageNet stem: 7x7/2 conv, BatchNorm, ReLU, then a 3x3 max-pool, stride 2, pad 1
// (224 -> 112 -> 56); the bottleneck layers halve it three more times to 7x7.
BOOST_AUTO_TEST_CASE(imagenet_resnets_have_the_stem_max_pool) {
  for (const char* spec : {"resnet50", "resnet101", "wide-resnet50", "wide-resnet101"}) {
    BOOST_TEST_CONTEXT(spec) {
      const Network net = arch_network(spec, {3, 224, 224}, 1000);
      BOOST_REQUIRE(net.ops.size() > 4u);
      const OpKind stem[] = {OpKind::conv, OpKind::batchnorm, OpKind::relu, OpKind::maxpool};
      for (size_t i = 0; i < 4; ++i) BOOST_TEST((net.ops[i].kind == stem[i]));
      const Op& pool = net.ops[3];
      BOOST_TEST((pool.kernel == 3 && pool.stride == 2 && pool.pad == 1));
      BOOST_TEST((net.ops[2].h == 112 && pool.c == 64 && pool.h == 56 && pool.w == 56));
      int pools = 0;
      for (const Op& op : net.ops) pools += op.kind == OpKind::maxpool;
      BOOST_TEST(pools == 1);
      const Op& last_block = net.ops[net.ops.size() - 3];  // before global_avgpool and fc
      BOOST_TEST((last_block.c == 2048 && last_block.h == 7 && last_block.w == 7));
      BOOST_TEST(net.tensors.size() == arch_tensors(spec, {3, 224, 224}, 1000).size());
    }
  }
  // odd sizes: 7x7/2 pad 3 takes 33 to 17, the max-pool 17 to 9; a 1x1 input stays 1x1
  const Network odd = arch_network("resnet50", {3, 33, 33}, 10);
  BOOST_TEST((odd.ops[3].h == 9 && odd.ops[3].w == 9));
  const Network one = arch_network("resnet50", {3, 1, 1}, 10);
  BOOST_TEST((one.ops[3].h == 1 && one.ops.back().c == 10));
}

// wide-resnet101 is torchvision's wide_resnet101_2: [3, 4, 23, 3] bottlenecks of twice the
// width (layer3.22.conv2: 512 -> 512 where resnet101 has 256), the same 4x expansion.
BOOST_AUTO_TEST_CASE(wide_resnet101_doubles_the_bottleneck_width) {
  const Network net = arch_network("wide-resnet101", {3, 64, 64}, 10);
  const Network narrow = arch_network("resnet101", {3, 64, 64}, 10);
  BOOST_REQUIRE(net.tensors.size() == narrow.tensors.size());
  for (size_t t = 0; t < net.tensors.size(); ++t) {
    const TensorSpec& wide = net.tensors[t];
    BOOST_TEST_CONTEXT(wide.name) {
      BOOST_TEST(wide.name == narrow.tensors[t].name);
      const bool inner = wide.name.find(".conv1.") != std::string::npos ||
                         wide.name.find(".conv2.") != std::string::npos;
      const bool inner_in = wide.name.find(".conv2.") != std::string::npos ||
                            wide.name.find(".conv3.") != std::string::npos;
      BOOST_TEST(wide.shape[0] == narrow.tensors[t].shape[0] * (inner ? 2 : 1));
      BOOST_TEST(wide.shape[1] == narrow.tensors[t].shape[1] * (inner_in ? 2 : 1));
    }
  }
  BOOST_TEST(net.tensors.size() == 105u);  // 1 + 33 x 3 + 4 downsamples + fc
}

// A max-pool whose padding could fill a whole window (pad > kernel / 2), or with no window at
// all, is refused by the graph check every backend runs.
BOOST_AUTO_TEST_CASE(graph_rejects_bad_max_pools) {
  for (const auto& [kernel, stride, pad] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
           {3, 2, 2}, {0, 1, 0}, {2, 0, 0}, {3, 1, -1}}) {
    BOOST_TEST_CONTEXT(kernel << "/" << stride << "/" << pad) {
      NetBuilder b({2, 6, 6}, 3);
      b.maxpool(3, 2, 1);
      b.linear("fc", 3);
      Network net = b.network();
      BOOST_CHECK_NO_THROW(network_graph(net));
      net.ops[0].kernel = kernel;
      net.ops[0].stride = stride;
      net.ops[0].pad = pad;
      BOOST_CHECK_EXCEPTION(network_graph(net), InvalidArgument, [](const InvalidArgument& e) {
        return std::string(e.what()).find("not a valid window") != std::string::npos;
      });
    }
  }
}

// Ops read the last op, the input (-1) or any earlier op; shapes follow from the inputs'
// (conv: floor((size + 2 pad - kernel) / stride) + 1), and op_shape reads them back.
BOOST_AUTO_TEST_CASE(net_builder_reads_any_op_and_computes_shapes) {
  NetBuilder b({3, 9, 7}, 4);
  BOOST_TEST(b.last() == -1);
  BOOST_TEST((b.channels() == 3 && b.height() == 9 && b.width() == 7));
  const int conv = b.conv("stem", 8, 3, 2, 1);
  BOOST_TEST(b.relu() == conv + 1);
  const int side = b.conv("side", 8, 1, 2, 0, -1);
  const int sum = b.add(conv + 1, side);
  b.maxpool2();
  b.batchnorm("bn", sum);
  b.global_avgpool();
  b.linear("fc", 4);
  const Network& net = b.network();
  BOOST_TEST(net.ops.size() == 8u);
  BOOST_TEST((net.ops[side].inputs == std::vector<int>{-1}));
  BOOST_TEST((net.ops[sum].inputs == std::vector<int>{conv + 1, side}));
  BOOST_TEST((net.ops[5].inputs == std::vector<int>{sum} && net.ops[5].name == "bn"));
  const OpShape in = op_shape(net, -1), s = op_shape(net, conv), pooled = op_shape(net, 4);
  BOOST_TEST((in.c == 3 && in.h == 9 && in.w == 7));
  BOOST_TEST((s.c == 8 && s.h == 5 && s.w == 4 && s.numel() == 160));
  BOOST_TEST((op_shape(net, side).h == 5 && op_shape(net, side).w == 4));
  BOOST_TEST((pooled.c == 8 && pooled.h == 2 && pooled.w == 2));
  BOOST_TEST((op_shape(net, 7).c == 4 && op_shape(net, 7).h == 1 && op_shape(net, 7).w == 1));
  BOOST_TEST(net.tensors.size() == 3u);
  BOOST_TEST(net.tensors[1].name == "side.weight");
  BOOST_TEST((net.tensors[1].shape == std::vector<int64_t>{8, 3, 1, 1}));
  BOOST_TEST((net.tensors[1].stride == 2 && net.tensors[1].pad == 0));
  BOOST_TEST((net.tensors[2].shape == std::vector<int64_t>{4, 8} && net.tensors[2].fan_in == 8));
  BOOST_TEST((net.ops[7].tensor == 2 && net.ops[side].tensor == 1 && net.ops[sum].tensor == -1));
}

BOOST_AUTO_TEST_SUITE_END()
