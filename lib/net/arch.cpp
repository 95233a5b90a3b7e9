// The architecture registry (DESIGN.md §5): parses specs such as "conv6:width=2" and builds
// each family's graph of operations and its weight tensors (conv and linear only) in network
// order, named as torchvision names them.
#include "net/arch.hpp"
#include "net/net_builder.hpp"
#include "net/network.hpp"

#include <cmath>
#include <cstdlib>

#include "error.hpp"
#include "format/json.hpp"
#include "format/number_text.hpp"

namespace popup {
namespace {

constexpr int64_t max_input_dim = 65536;
constexpr int64_t kMaxInputValues = int64_t{1} << 24;  // C*H*W of one example
constexpr double max_width = 1024;  // keeps int(base * width) far from int64 overflow

// A parsed spec: the family's name and its options (only `width` exists so far).
struct ArchOptions {
  std::string name;
  double width = 1;
};

[[noreturn]] void fail(const std::string& message) { throw InvalidArgument("", message); }

// int(base * width) as the official hidden-networks code computes hidden sizes.
int64_t scaled_width(int64_t base, double width) {
  return static_cast<int64_t>(static_cast<double>(base) * width);
}

// Everything a family's builder needs.
struct BuildInput {
  const ArchOptions& options;
  InputShape input;
  int64_t classes;
};

using Builder = void (*)(const BuildInput&, NetBuilder&);

// One row of the registry.
struct Family {
  const char* name;
  const char* description;
  int64_t narrowest_hidden;  // base size of the narrowest layer `width` scales; 0: no width option
  Builder build;
};

// ---- fc: 784-300-100-10 on 28x28 (input size follows the data set) ---------------------------

void build_fc(const BuildInput& b, NetBuilder& n) {
  n.linear("fc1", scaled_width(300, b.options.width));
  n.relu();
  n.linear("fc2", scaled_width(100, b.options.width));
  n.relu();
  n.linear("fc3", b.classes);
}

// ---- Conv-2/4/6/8 (edge-popup paper, official hidden-networks code) --------------------------

// Channel widths of the conv pairs; Conv-N uses the first N/2 pairs.
constexpr int64_t conv_pair_widths[] = {64, 128, 256, 512};

void build_conv_n(const BuildInput& b, NetBuilder& n, int pairs) {
  int convs = 0;
  for (int pair = 0; pair < pairs; ++pair) {
    const int64_t width = scaled_width(conv_pair_widths[pair], b.options.width);
    for (int i = 0; i < 2; ++i) {
      n.conv("conv" + std::to_string(++convs), width, 3, 1, 1);
      n.relu();
    }
    n.maxpool2();
    if (n.height() == 0 || n.width() == 0)
      fail("input " + input_shape_format(b.input) + " is too small for " + b.options.name +
           ": the feature map reaches " + std::to_string(n.height()) + "x" +
           std::to_string(n.width()) + " after " + std::to_string(pair + 1) +
           (pair == 0 ? " pooling" : " poolings"));
  }
  const int64_t hidden = scaled_width(256, b.options.width);
  n.linear("fc1", hidden);
  n.relu();
  n.linear("fc2", hidden);
  n.relu();
  n.linear("fc3", b.classes);
}

// ---- ResNets (torchvision naming and module order; BatchNorm non-affine) ---------------------
// Every conv and pool here has pad >= (kernel - 1) / 2, so an input of at least 1x1 never
// shrinks below 1x1, and global average pooling feeds fc.

constexpr int64_t resnet_planes[] = {64, 128, 256, 512};

// torchvision's downsample branch: a strided 1x1 conv + BatchNorm when the shortcut changes
// shape; returns the op the residual add takes as its shortcut.
int shortcut(NetBuilder& n, const std::string& prefix, int block_input, int64_t inplanes,
             int64_t out, int64_t stride) {
  if (stride == 1 && inplanes == out) return block_input;
  n.conv(prefix + "downsample.0", out, 1, stride, 0, block_input);
  return n.batchnorm(prefix + "downsample.1");
}

int64_t basic_block(NetBuilder& n, const std::string& prefix, int64_t inplanes, int64_t planes,
                    int64_t stride) {
  const int input = n.last();
  n.conv(prefix + "conv1", planes, 3, stride, 1);
  n.batchnorm(prefix + "bn1");
  n.relu();
  n.conv(prefix + "conv2", planes, 3, 1, 1);
  const int main_path = n.batchnorm(prefix + "bn2");
  n.add(main_path, shortcut(n, prefix, input, inplanes, planes, stride));
  n.relu();
  return planes;
}

// Bottleneck (torchvision v1.5: stride on the 3x3 conv), expansion 4.
int64_t bottleneck_block(NetBuilder& n, const std::string& prefix, int64_t inplanes, int64_t planes,
                         int64_t stride, int64_t width_per_group) {
  const int64_t width = planes * width_per_group / 64;
  const int64_t out = planes * 4;
  const int input = n.last();
  n.conv(prefix + "conv1", width, 1, 1, 0);
  n.batchnorm(prefix + "bn1");
  n.relu();
  n.conv(prefix + "conv2", width, 3, stride, 1);
  n.batchnorm(prefix + "bn2");
  n.relu();
  n.conv(prefix + "conv3", out, 1, 1, 0);
  const int main_path = n.batchnorm(prefix + "bn3");
  n.add(main_path, shortcut(n, prefix, input, inplanes, out, stride));
  n.relu();
  return out;
}

// The four layers after the stem, then global average pooling and fc.
template <typename Block>
void build_resnet_layers(const BuildInput& b, NetBuilder& n, const std::vector<int>& blocks,
                         Block block) {
  int64_t inplanes = n.channels();
  for (int layer = 0; layer < 4; ++layer) {
    for (int i = 0; i < blocks[static_cast<size_t>(layer)]; ++i) {
      const std::string prefix =
          "layer" + std::to_string(layer + 1) + "." + std::to_string(i) + ".";
      const int64_t stride = (layer > 0 && i == 0) ? 2 : 1;
      inplanes = block(n, prefix, inplanes, resnet_planes[layer], stride);
    }
  }
  n.global_avgpool();
  n.linear("fc", b.classes);
}

// CIFAR stem: 3x3 conv, stride 1, no max-pool.
void build_resnet_cifar(const BuildInput& b, NetBuilder& n, const std::vector<int>& blocks) {
  n.conv("conv1", 64, 3, 1, 1);
  n.batchnorm("bn1");
  n.relu();
  build_resnet_layers(b, n, blocks, basic_block);
}

// ImageNet stem: 7x7 conv, stride 2, pad 3, then a 3x3 max-pool, stride 2, pad 1.
void build_resnet_imagenet(const BuildInput& b, NetBuilder& n, const std::vector<int>& blocks,
                           int64_t width_per_group) {
  n.conv("conv1", 64, 7, 2, 3);
  n.batchnorm("bn1");
  n.relu();
  n.maxpool(3, 2, 1);
  auto block = [width_per_group](NetBuilder& nb, const std::string& prefix, int64_t inplanes,
                                 int64_t planes, int64_t stride) {
    return bottleneck_block(nb, prefix, inplanes, planes, stride, width_per_group);
  };
  build_resnet_layers(b, n, blocks, block);
}

// ---- the registry ---------------------------------------------------------------------------

const std::vector<Family>& families() {
  static const std::vector<Family> table{
      {"fc", "fully connected 300-100-classes on the flattened input (width=W)", 100, build_fc},
      {"conv2", "2 3x3 convs (64), max-pool, fc 256-256-classes (width=W)", 64,
       [](const BuildInput& b, NetBuilder& n) { build_conv_n(b, n, 1); }},
      {"conv4", "4 3x3 convs (64,64,128,128), 2 max-pools, fc 256-256-classes (width=W)", 64,
       [](const BuildInput& b, NetBuilder& n) { build_conv_n(b, n, 2); }},
      {"conv6", "6 3x3 convs (64 .. 256), 3 max-pools, fc 256-256-classes (width=W)", 64,
       [](const BuildInput& b, NetBuilder& n) { build_conv_n(b, n, 3); }},
      {"conv8", "8 3x3 convs (64 .. 512), 4 max-pools, fc 256-256-classes (width=W)", 64,
       [](const BuildInput& b, NetBuilder& n) { build_conv_n(b, n, 4); }},
      {"resnet18", "ResNet-18, CIFAR stem (3x3 conv, stride 1, no max-pool)", 0,
       [](const BuildInput& b, NetBuilder& n) {
         build_resnet_cifar(b, n, {2, 2, 2, 2});
       }},
      {"resnet34", "ResNet-34, CIFAR stem (3x3 conv, stride 1, no max-pool)", 0,
       [](const BuildInput& b, NetBuilder& n) {
         build_resnet_cifar(b, n, {3, 4, 6, 3});
       }},
      {"resnet50", "ResNet-50, ImageNet stem, bottleneck blocks (torchvision v1.5)", 0,
       [](const BuildInput& b, NetBuilder& n) {
         build_resnet_imagenet(b, n, {3, 4, 6, 3}, 64);
       }},
      {"resnet101", "ResNet-101, ImageNet stem, bottleneck blocks (torchvision v1.5)", 0,
       [](const BuildInput& b, NetBuilder& n) {
         build_resnet_imagenet(b, n, {3, 4, 23, 3}, 64);
       }},
      {"wide-resnet50", "Wide ResNet-50-2, ImageNet stem, bottlenecks twice as wide", 0,
       [](const BuildInput& b, NetBuilder& n) {
         build_resnet_imagenet(b, n, {3, 4, 6, 3}, 128);
       }},
      {"wide-resnet101", "Wide ResNet-101-2, ImageNet stem, bottlenecks twice as wide", 0,
       [](const BuildInput& b, NetBuilder& n) {
         build_resnet_imagenet(b, n, {3, 4, 23, 3}, 128);
       }},
  };
  return table;
}

const Family& family_find(const std::string& name) {
  for (const Family& family : families())
    if (name == family.name) return family;
  std::string known;
  for (const Family& family : families())
    known += (known.empty() ? "" : ", ") + std::string(family.name);
  fail("unknown architecture '" + text_excerpt(name) + "' (known: " + known + ")");
}

// ---- spec parsing ---------------------------------------------------------------------------

double width_parse(const Family& family, const std::string& text) {
  const std::string arch = family.name;
  double width = 0;
  if (!double_parse(text, width) || !(width > 0) || !std::isfinite(width))
    fail(arch + ": width must be a positive number, got '" + text_excerpt(text) + "'");
  if (width > max_width)
    fail(arch + ": width must be at most " + double_format(max_width) + ", got '" +
         text_excerpt(text) + "'");
  if (scaled_width(family.narrowest_hidden, width) < 1)
    fail(arch + ": width=" + text + " leaves a hidden layer with no units");
  return width;
}

// Apply one "opt=value" item to `options`.
void option_apply(const Family& family, const std::string& item, ArchOptions& options,
                  bool& width_seen) {
  const size_t eq = item.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == item.size())
    fail(options.name + ": expected option=value, got '" + text_excerpt(item) + "'");
  const std::string key = item.substr(0, eq);
  if (key != "width" || family.narrowest_hidden == 0)
    fail(options.name + ": unknown option '" + text_excerpt(key) + "'");
  if (width_seen) fail(options.name + ": option 'width' given twice");
  width_seen = true;
  options.width = width_parse(family, item.substr(eq + 1));
}

// name[:opt=value[,opt=value...]]
ArchOptions spec_parse(const std::string& spec) {
  ArchOptions options;
  const size_t colon = spec.find(':');
  options.name = spec.substr(0, colon);
  const Family& family = family_find(options.name);
  if (colon == std::string::npos) return options;
  bool width_seen = false;
  size_t start = colon + 1;
  while (true) {
    const size_t comma = spec.find(',', start);
    option_apply(family, spec.substr(start, comma - start), options, width_seen);
    if (comma == std::string::npos) return options;
    start = comma + 1;
  }
}

// Digits only, 1 .. max_input_dim; -1 when `text` is anything else.
int64_t dim_parse(const std::string& text) {
  if (text.empty() || text.size() > 6) return -1;
  int64_t value = 0;
  for (char ch : text) {
    if (ch < '0' || ch > '9') return -1;
    value = value * 10 + (ch - '0');
  }
  return (value >= 1 && value <= max_input_dim) ? value : -1;
}

}  // namespace

InputShape input_shape_parse(const std::string& text) {
  std::vector<int64_t> dims;
  size_t start = 0;
  while (true) {
    const size_t x = text.find('x', start);
    dims.push_back(dim_parse(text.substr(start, x - start)));
    if (x == std::string::npos) break;
    start = x + 1;
  }
  if (dims.size() != 3 || dims[0] < 0 || dims[1] < 0 || dims[2] < 0)
    fail("input shape '" + text_excerpt(text) +
         "' must be CxHxW with each dimension between 1 and " + std::to_string(max_input_dim) +
         ", e.g. 3x32x32");
  return InputShape{dims[0], dims[1], dims[2]};
}

std::string input_shape_format(const InputShape& shape) {
  return std::to_string(shape.c) + "x" + std::to_string(shape.h) + "x" + std::to_string(shape.w);
}

std::string arch_canonical(const std::string& spec) {
  const ArchOptions options = spec_parse(spec);
  if (options.width == 1) return options.name;
  return options.name + ":width=" + double_format(options.width);
}

namespace {

// The graph of `spec` (arch_tensors and arch_network throw what this throws).
Network network_build(const std::string& spec, const InputShape& input, int64_t classes) {
  const ArchOptions options = spec_parse(spec);
  if (classes < 1)
    fail(options.name + ": classes must be at least 1, got " + std::to_string(classes));
  if (input.c < 1 || input.h < 1 || input.w < 1 || input.c > max_input_dim ||
      input.h > max_input_dim || input.w > max_input_dim)
    fail("input " + input_shape_format(input) + " has a dimension outside 1 .. " +
         std::to_string(max_input_dim));
  if (input.c * input.h * input.w > kMaxInputValues)
    fail("input " + input_shape_format(input) + " has " +
         std::to_string(input.c * input.h * input.w) + " values per example, more than " +
         std::to_string(kMaxInputValues));
  NetBuilder builder(input, classes);
  family_find(options.name).build({options, input, classes}, builder);
  Network net = builder.network();
  const int64_t budget = arch_max_params();
  int64_t total = 0;
  for (const TensorSpec& t : net.tensors)  // each numel below 2^63: NetBuilder checks
    if (__builtin_add_overflow(total, t.numel(), &total)) total = INT64_MAX;
  if (total > budget)
    fail(options.name + " on " + input_shape_format(input) + " with " + std::to_string(classes) +
         " classes has " + (total == INT64_MAX ? "over 2^63" : std::to_string(total)) +
         " weights, more than the " + std::to_string(budget) +
         " a recipe may have (POPUP_MAX_PARAMS raises it)");
  return net;
}

}  // namespace

std::vector<TensorSpec> arch_tensors(const std::string& spec, const InputShape& input,
                                     int64_t classes) {
  return network_build(spec, input, classes).tensors;
}

Network arch_network(const std::string& spec, const InputShape& input, int64_t classes) {
  return network_build(spec, input, classes);
}

std::vector<std::string> network_batchnorms(const Network& net) {
  std::vector<std::string> names;
  for (const Op& op : net.ops)
    if (op.kind == OpKind::batchnorm) names.push_back(op.name);
  return names;
}

const std::vector<ArchInfo>& arch_list() {
  static const std::vector<ArchInfo> list = [] {
    std::vector<ArchInfo> out;
    for (const Family& family : families()) out.push_back({family.name, family.description});
    return out;
  }();
  return list;
}

int64_t arch_max_params() {
  const char* text = std::getenv("POPUP_MAX_PARAMS");
  uint64_t value = 0;
  if (!text || !*text) return kDefaultMaxParams;
  if (!uint_parse(text, value) || value < 1 || value > (uint64_t{1} << 62))
    fail("POPUP_MAX_PARAMS must be a whole number between 1 and 2^62, got '" + text_excerpt(text) +
         "'");
  return static_cast<int64_t>(value);
}

int64_t tensors_numel(const std::vector<TensorSpec>& tensors) {
  int64_t total = 0;
  for (const TensorSpec& t : tensors) total += t.numel();
  return total;
}

}  // namespace popup
