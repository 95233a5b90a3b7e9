// Unit tests of the torch and csr exports (lib/export/torch_export.cpp, csr_export.cpp,
// export_metadata.cpp): models built by hand for fc, conv4 and resnet18 on small inputs, with
// deterministic weights and a keep pattern, written and read back with popup's safetensors
// reader. Names, shapes and order against torchvision's and hidden-networks' state_dicts;
// values exactly (dense zeros where masked; CSR rebuilt into the dense effective weights);
// BatchNorm defaults; metadata; a model that does not fit its network writes nothing.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "error.hpp"
#include "export/export_metadata.hpp"
#include "export/export_writers.hpp"
#include "format/input_stream.hpp"
#include "format/output_file.hpp"
#include "format/recipe.hpp"
#include "format/safetensors.hpp"
#include "temp_dir.hpp"

using namespace popup;

namespace {

// A model of `arch` on `input` with `classes`: weight i of tensor t is (t + 1) / 16 + i / 1024
// (exact in F32 for these sizes) where kept, 0 where not. Kept: every element whose index is
// not a multiple of 3, except that row 1 of every tensor keeps nothing and that element 1 of
// tensor 0 is kept with the value 0 (a kept zero: CSR keeps what the mask keeps, not what
// is nonzero). BatchNorm: mean c / 8, var 1 + c / 4; gamma 1 + c / 2 and beta -c / 8 when
// `affine`, else 1 and 0.
ExportModel model_make(const std::string& arch, const InputShape& input, int64_t classes,
                       bool affine = false) {
  ExportModel m;
  m.file = "test.mask";
  m.recipe.arch = arch;
  m.recipe.input = input;
  m.recipe.classes = classes;
  m.recipe.init = InitKind::signed_constant;
  m.recipe.seed = 1;
  m.recipe = recipe_validated(m.recipe);
  m.net = arch_network(m.recipe.arch, input, classes);
  m.metadata = recipe_to_metadata(m.recipe);
  m.metadata["popup.kind"] = "mask";
  m.metadata["popup.version"] = "1";
  m.metadata["popup.crc32"] = "01234567";
  m.metadata["popup.train.method"] = "edge-popup";
  m.metadata["other.key"] = "dropped";
  m.choices["popup.export.source_kind"] = "mask";
  for (size_t t = 0; t < m.net.tensors.size(); ++t) {
    const TensorSpec& spec = m.net.tensors[t];
    const auto n = static_cast<size_t>(spec.numel());
    const auto cols = static_cast<size_t>(spec.numel() / spec.shape[0]);
    std::vector<float> w(n);
    std::vector<uint8_t> keep(n);
    for (size_t i = 0; i < n; ++i) {
      keep[i] = (i % 3 != 0) && i / cols != 1;
      w[i] = keep[i] ? static_cast<float>(t + 1) / 16 + static_cast<float>(i % 4096) / 1024 : 0;
    }
    if (t == 0) w[1] = 0;  // kept, value 0
    m.weights.push_back(std::move(w));
    m.keep.push_back(std::move(keep));
  }
  for (const Op& op : m.net.ops) {
    if (op.kind != OpKind::batchnorm) continue;
    BatchNormState& bn = m.batchnorms[op.name];
    for (int64_t c = 0; c < op.c; ++c) {
      const auto x = static_cast<float>(c);
      bn.gamma.push_back(affine ? 1 + x / 2 : 1);
      bn.beta.push_back(affine ? -x / 8 : 0);
      bn.mean.push_back(x / 8);
      bn.var.push_back(1 + x / 4);
    }
  }
  m.affine_bn = affine;
  m.mean = {0.286f};
  m.stddev = {0.353f};
  for (int64_t c = 0; c < classes; ++c) m.class_names.push_back("class " + std::to_string(c));
  m.data = "fashion-mnist";
  return m;
}

// A file read back: its metadata and every tensor's header entry and bytes, in file order.
struct Tensor {
  TensorInfo info;
  std::vector<char> bytes;
  template <typename T>
  std::vector<T> as() const {
    BOOST_REQUIRE(bytes.size() % sizeof(T) == 0);
    std::vector<T> v(bytes.size() / sizeof(T));
    if (!v.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
    return v;
  }
};
struct FileRead {
  Metadata metadata;
  std::vector<Tensor> tensors;
  const Tensor& at(const std::string& name) const {
    for (const Tensor& t : tensors)
      if (t.info.name == name) return t;
    BOOST_FAIL("no tensor " + name);
    return tensors.front();
  }
  bool has(const std::string& name) const {
    for (const Tensor& t : tensors)
      if (t.info.name == name) return true;
    return false;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> n;
    for (const Tensor& t : tensors) n.push_back(t.info.name);
    return n;
  }
};

FileRead file_read(const std::string& path) {
  InputStream in(path);
  SafetensorsReader reader(in);
  FileRead f;
  f.metadata = reader.metadata();
  for (const TensorInfo& info : reader.tensors()) {
    Tensor t{info, std::vector<char>(static_cast<size_t>(info.nbytes()))};
    reader.read_next(t.bytes.data());
    f.tensors.push_back(std::move(t));
  }
  reader.finish();
  return f;
}

template <typename Writer>
FileRead export_read(const ExportModel& model, Writer writer) {
  TempDir dir;
  {
    OutputFile out(dir.file("a.safetensors"));
    writer(out, model);
  }
  return file_read(dir.file("a.safetensors"));
}

FileRead torch_read(const ExportModel& model) { return export_read(model, torch_export); }
FileRead csr_read(const ExportModel& model) { return export_read(model, csr_export); }

// The keys every export has: the source's popup.* keys but kind, version and crc32.
void common_metadata_check(const Metadata& meta, const std::string& format) {
  BOOST_TEST(meta.at("popup.export.format") == format);
  BOOST_TEST(meta.at("popup.export.version") == "1");
  BOOST_TEST(meta.at("popup.export.data") == "fashion-mnist");
  BOOST_TEST(meta.at("popup.export.mean") == "[0.286]");
  BOOST_TEST(meta.at("popup.export.std") == "[0.353]");
  BOOST_TEST(meta.count("popup.kind") == 0u);
  BOOST_TEST(meta.count("popup.version") == 0u);
  BOOST_TEST(meta.count("popup.crc32") == 0u);
  BOOST_TEST(meta.count("other.key") == 0u);
  BOOST_TEST(meta.at("popup.train.method") == "edge-popup");
  BOOST_TEST(meta.at("popup.seed") == "1");
  BOOST_TEST(meta.at("popup.init") == "signed-constant");
  BOOST_TEST(meta.at("popup.export.source_kind") == "mask");  // the choices
  BOOST_TEST(meta.at("popup.export.classes").rfind("[\"class 0\",\"class 1\"", 0) == 0u);
}

std::vector<int64_t> shape4(const std::vector<int64_t>& shape) {
  std::vector<int64_t> s = shape;
  while (s.size() < 4) s.push_back(1);
  return s;
}

// The dense tensor of `model`'s tensor t in the file, as `name`, exactly its weights.
void dense_check(const FileRead& f, const ExportModel& model, size_t t, const std::string& name,
                 const std::vector<int64_t>& shape) {
  const Tensor& x = f.at(name);
  BOOST_TEST(std::string(dtype_name(x.info.dtype)) == "F32");
  BOOST_TEST(x.info.shape == shape);
  const std::vector<float> v = x.as<float>();
  BOOST_REQUIRE(v.size() == model.weights[t].size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != model.weights[t][i])
      BOOST_FAIL(name + ": element " + std::to_string(i) + " differs");
    if (!model.keep[t][i] && v[i] != 0) BOOST_FAIL(name + ": masked element " + std::to_string(i));
  }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(export_files)

BOOST_AUTO_TEST_CASE(json_arrays_are_shortest) {
  BOOST_TEST(export_json_floats({0.286f, 0.1f, 1.0f, 0.4914f}) == "[0.286,0.1,1,0.4914]");
  BOOST_TEST(export_json_floats({}) == "[]");
  BOOST_TEST(export_json_shape({64, 3, 3, 3}) == "[64,3,3,3]");
}

BOOST_AUTO_TEST_CASE(torch_fc_is_hidden_networks_fc) {
  const ExportModel m = model_make("fc", {1, 8, 8}, 10);
  const FileRead f = torch_read(m);
  BOOST_TEST(f.names() == (std::vector<std::string>{"linear.0.weight", "linear.2.weight",
                                                    "linear.4.weight"}),
             boost::test_tools::per_element());
  dense_check(f, m, 0, "linear.0.weight", {300, 64, 1, 1});
  dense_check(f, m, 1, "linear.2.weight", {100, 300, 1, 1});
  dense_check(f, m, 2, "linear.4.weight", {10, 100, 1, 1});
  common_metadata_check(f.metadata, "torch");
  BOOST_TEST(f.metadata.at("format") == "pt");
  BOOST_TEST(f.metadata.at("popup.export.module").find("frankle.py FC on 1x8x8, 10 classes") !=
             std::string::npos);
  BOOST_TEST(f.metadata.at("popup.export.classes").rfind("[\"class 0\",\"class 1\",", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(torch_conv4_is_hidden_networks_conv4) {
  const ExportModel m = model_make("conv4", {1, 8, 8}, 10);
  const FileRead f = torch_read(m);
  // convs: conv ReLU conv ReLU MaxPool per pair; linear: conv1x1 ReLU conv1x1 ReLU conv1x1
  BOOST_TEST(
      f.names() == (std::vector<std::string>{"convs.0.weight", "convs.2.weight", "convs.5.weight",
                                             "convs.7.weight", "linear.0.weight", "linear.2.weight",
                                             "linear.4.weight"}),
      boost::test_tools::per_element());
  const std::vector<std::string> names = f.names();
  for (size_t t = 0; t < m.net.tensors.size(); ++t)
    dense_check(f, m, t, names[t], shape4(m.net.tensors[t].shape));
  BOOST_TEST(f.at("linear.0.weight").info.shape == (std::vector<int64_t>{256, 128 * 2 * 2, 1, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(f.metadata.at("popup.export.module").find("Conv4 on 1x8x8, 10 classes (") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(torch_conv_width_scales_like_hidden_networks) {
  const ExportModel m = model_make("conv6:width=0.5", {3, 8, 8}, 4);
  const FileRead f = torch_read(m);
  BOOST_TEST(f.names() == (std::vector<std::string>{
                              "convs.0.weight", "convs.2.weight", "convs.5.weight",
                              "convs.7.weight", "convs.10.weight", "convs.12.weight",
                              "linear.0.weight", "linear.2.weight", "linear.4.weight"}),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("convs.0.weight").info.shape == (std::vector<int64_t>{32, 3, 3, 3}),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("convs.12.weight").info.shape == (std::vector<int64_t>{128, 128, 3, 3}),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("linear.0.weight").info.shape == (std::vector<int64_t>{128, 128, 1, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("linear.4.weight").info.shape == (std::vector<int64_t>{4, 128, 1, 1}),
             boost::test_tools::per_element());
  BOOST_TEST(f.metadata.at("popup.export.module").find("Conv6 on 3x8x8, 4 classes, width=0.5") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(torch_resnet18_is_torchvisions_state_dict) {
  const ExportModel m = model_make("resnet18", {1, 8, 8}, 10);
  const FileRead f = torch_read(m);
  const std::vector<std::string> names = f.names();
  // torchvision's resnet18 state_dict: 20 convs, 20 BatchNorms of 5 entries, fc weight and bias
  BOOST_TEST(names.size() == 122u);
  const std::vector<std::string> bn{".weight", ".bias", ".running_mean", ".running_var",
                                    ".num_batches_tracked"};
  std::vector<std::string> head{"conv1.weight"};
  for (const auto& s : bn) head.push_back("bn1" + s);
  head.push_back("layer1.0.conv1.weight");
  BOOST_TEST(std::vector<std::string>(names.begin(), names.begin() + 7) == head,
             boost::test_tools::per_element());
  // layer2.0: conv1 bn1 conv2 bn2 downsample.0 downsample.1, as BasicBlock registers them
  std::vector<std::string> block;
  for (const std::string layer : {"conv1", "bn1", "conv2", "bn2", "downsample.0", "downsample.1"}) {
    if (layer[0] == 'c' || layer == "downsample.0") {
      block.push_back("layer2.0." + layer + ".weight");
    } else {
      for (const auto& s : bn) block.push_back("layer2.0." + layer + s);
    }
  }
  size_t at = 0;
  while (at < names.size() && names[at] != "layer2.0.conv1.weight") ++at;
  BOOST_REQUIRE(at + block.size() <= names.size());
  BOOST_TEST(
      std::vector<std::string>(names.begin() + static_cast<long>(at),
                               names.begin() + static_cast<long>(at + block.size())) == block,
      boost::test_tools::per_element());
  BOOST_TEST(names[120] == "fc.weight");
  BOOST_TEST(names[121] == "fc.bias");
  for (size_t t = 0; t < m.net.tensors.size(); ++t)
    dense_check(f, m, t, m.net.tensors[t].name, m.net.tensors[t].shape);
  BOOST_TEST(f.at("conv1.weight").info.shape == (std::vector<int64_t>{64, 1, 3, 3}),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("fc.bias").info.shape == (std::vector<int64_t>{10}),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("fc.bias").as<float>() == std::vector<float>(10, 0.0f),
             boost::test_tools::per_element());
  // not affine: gamma 1, beta 0; the statistics as the model holds them
  const Tensor& steps = f.at("layer3.1.bn2.num_batches_tracked");
  BOOST_TEST(std::string(dtype_name(steps.info.dtype)) == "I64");
  BOOST_TEST(steps.info.shape.empty());
  BOOST_TEST(steps.as<int64_t>() == std::vector<int64_t>{0}, boost::test_tools::per_element());
  const BatchNormState& state = m.batchnorms.at("layer2.0.downsample.1");
  BOOST_TEST(f.at("layer2.0.downsample.1.weight").as<float>() == std::vector<float>(128, 1.0f),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("layer2.0.downsample.1.bias").as<float>() == std::vector<float>(128, 0.0f),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("layer2.0.downsample.1.running_mean").as<float>() == state.mean,
             boost::test_tools::per_element());
  BOOST_TEST(f.at("layer2.0.downsample.1.running_var").as<float>() == state.var,
             boost::test_tools::per_element());
  BOOST_TEST(f.at("layer2.0.downsample.1.running_var").info.shape == (std::vector<int64_t>{128}),
             boost::test_tools::per_element());
  common_metadata_check(f.metadata, "torch");
  BOOST_TEST(f.metadata.at("popup.export.module") ==
             "torchvision.models.resnet18(num_classes=10) with conv1 = Conv2d(1, 64, 3, stride=1, "
             "padding=1, bias=False), maxpool = Identity()");
}

BOOST_AUTO_TEST_CASE(torch_affine_batchnorm_is_written) {
  const ExportModel m = model_make("resnet18", {3, 4, 4}, 3, true);
  const FileRead f = torch_read(m);
  const BatchNormState& state = m.batchnorms.at("layer4.1.bn2");
  BOOST_TEST(f.at("layer4.1.bn2.weight").as<float>() == state.gamma,
             boost::test_tools::per_element());
  BOOST_TEST(f.at("layer4.1.bn2.bias").as<float>() == state.beta, boost::test_tools::per_element());
  BOOST_TEST(f.at("layer4.1.bn2.weight").as<float>()[3] == 2.5f);
}

BOOST_AUTO_TEST_CASE(torch_imagenet_resnet_names_its_conv1) {
  // resnet50's smallest input here: the stem (7x7/2, max-pool) and four layers on 1x8x8
  const ExportModel m = model_make("resnet50", {1, 8, 8}, 5);
  const FileRead f = torch_read(m);
  BOOST_TEST(f.names().size() == 53u + 53 * 5 + 2);  // 53 convs, 53 BatchNorms of 5, fc 2
  BOOST_TEST(f.has("layer1.0.downsample.0.weight"));
  BOOST_TEST(f.has("layer4.2.bn3.num_batches_tracked"));
  BOOST_TEST(f.at("fc.weight").info.shape == (std::vector<int64_t>{5, 2048}),
             boost::test_tools::per_element());
  BOOST_TEST(f.metadata.at("popup.export.module") ==
             "torchvision.models.resnet50(num_classes=5) with conv1 = Conv2d(1, 64, 7, stride=2, "
             "padding=3, bias=False)");
  const FileRead rgb = torch_read(model_make("wide-resnet50", {3, 8, 8}, 5));
  BOOST_TEST(rgb.metadata.at("popup.export.module") ==
             "torchvision.models.wide_resnet50_2(num_classes=5)");
}

// ---- csr ------------------------------------------------------------------------------------

namespace {

// Every weight tensor of `model` in the csr file `f`: the layout's invariants, and the dense
// matrix rebuilt from the rows equal to the effective weights with exactly the kept
// elements present.
void csr_check(const FileRead& f, const ExportModel& model) {
  for (size_t t = 0; t < model.net.tensors.size(); ++t) {
    const TensorSpec& spec = model.net.tensors[t];
    const std::string& name = spec.name;
    const int64_t rows = spec.shape[0], cols = spec.numel() / rows;
    const Tensor& p = f.at(name + ".indptr");
    const Tensor& i = f.at(name + ".indices");
    const Tensor& v = f.at(name + ".values");
    BOOST_TEST(std::string(dtype_name(p.info.dtype)) == "I64");
    BOOST_TEST(std::string(dtype_name(i.info.dtype)) == "I32");
    BOOST_TEST(std::string(dtype_name(v.info.dtype)) == "F32");
    BOOST_TEST(p.info.shape == (std::vector<int64_t>{rows + 1}), boost::test_tools::per_element());
    const auto indptr = p.as<int64_t>();
    const auto indices = i.as<int32_t>();
    const auto values = v.as<float>();
    size_t kept = 0;
    for (const uint8_t k : model.keep[t]) kept += k;
    BOOST_TEST(i.info.shape == (std::vector<int64_t>{static_cast<int64_t>(kept)}),
               boost::test_tools::per_element());
    BOOST_TEST(v.info.shape == i.info.shape, boost::test_tools::per_element());
    BOOST_REQUIRE(indptr.size() == static_cast<size_t>(rows + 1));
    BOOST_REQUIRE(values.size() == kept && indices.size() == kept);
    BOOST_TEST(indptr.front() == 0);
    BOOST_TEST(static_cast<size_t>(indptr.back()) == kept);
    std::vector<float> dense(model.weights[t].size(), 0.0f);
    std::vector<uint8_t> present(dense.size(), 0);
    for (int64_t r = 0; r < rows; ++r) {
      if (indptr[r + 1] < indptr[r])
        BOOST_FAIL(name + ": indptr decreases at row " + std::to_string(r));
      for (int64_t k = indptr[r]; k < indptr[r + 1]; ++k) {
        const int32_t c = indices[k];
        if (c < 0 || c >= cols) BOOST_FAIL(name + ": column out of range at " + std::to_string(k));
        if (k > indptr[r] && indices[k - 1] >= c)
          BOOST_FAIL(name + ": columns not ascending at " + std::to_string(k));
        dense[r * cols + c] = values[k];
        present[r * cols + c] = 1;
      }
    }
    for (size_t e = 0; e < dense.size(); ++e) {
      if (dense[e] != model.weights[t][e])
        BOOST_FAIL(name + ": element " + std::to_string(e) + " differs");
      if (present[e] != model.keep[t][e])
        BOOST_FAIL(name + ": element " + std::to_string(e) + " kept wrongly");
    }
    const std::string key = "popup.csr." + name;
    BOOST_TEST(f.metadata.at(key + ".shape") == export_json_shape(spec.shape));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(csr_fc_round_trips) {
  const ExportModel m = model_make("fc", {1, 8, 8}, 10);
  const FileRead f = csr_read(m);
  BOOST_TEST(f.names() == (std::vector<std::string>{
                              "fc1.weight.indptr", "fc1.weight.indices", "fc1.weight.values",
                              "fc2.weight.indptr", "fc2.weight.indices", "fc2.weight.values",
                              "fc3.weight.indptr", "fc3.weight.indices", "fc3.weight.values"}),
             boost::test_tools::per_element());
  csr_check(f, m);
  // row 0 of fc1 keeps columns 1, 2, 4, 5, ...: element 1 is kept although it is 0
  const auto indices = f.at("fc1.weight.indices").as<int32_t>();
  BOOST_TEST(std::vector<int32_t>(indices.begin(), indices.begin() + 4) ==
                 (std::vector<int32_t>{1, 2, 4, 5}),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("fc1.weight.values").as<float>()[0] == 0.0f);
  // row 1 keeps nothing: indptr[2] == indptr[1]
  const auto indptr = f.at("fc1.weight.indptr").as<int64_t>();
  BOOST_TEST(indptr[1] == 42);  // 64 columns, 22 multiples of 3 removed
  BOOST_TEST(indptr[2] == indptr[1]);
  BOOST_TEST(f.metadata.at("popup.csr.fc1.weight.shape") == "[300,64]");
  BOOST_TEST(f.metadata.at("popup.csr.fc1.weight.kind") == "linear");
  BOOST_TEST(f.metadata.count("popup.csr.fc1.weight.stride") == 0u);
  common_metadata_check(f.metadata, "csr");
  BOOST_TEST(f.metadata.count("format") == 0u);
}

BOOST_AUTO_TEST_CASE(csr_conv4_round_trips) {
  const ExportModel m = model_make("conv4", {1, 8, 8}, 10);
  const FileRead f = csr_read(m);
  BOOST_TEST(f.tensors.size() == 7u * 3);
  csr_check(f, m);
  BOOST_TEST(f.metadata.at("popup.csr.conv3.weight.shape") == "[128,64,3,3]");
  BOOST_TEST(f.metadata.at("popup.csr.conv3.weight.kind") == "conv");
  BOOST_TEST(f.metadata.at("popup.csr.conv3.weight.stride") == "1");
  BOOST_TEST(f.metadata.at("popup.csr.conv3.weight.pad") == "1");
  BOOST_TEST(f.at("conv3.weight.indptr").info.shape == (std::vector<int64_t>{129}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(csr_resnet18_round_trips_with_batchnorm) {
  const ExportModel m = model_make("resnet18", {1, 8, 8}, 10);
  const FileRead f = csr_read(m);
  BOOST_TEST(f.tensors.size() == 21u * 3 + 20 * 2);  // no gamma and beta when not affine
  csr_check(f, m);
  BOOST_TEST(!f.has("bn1.weight"));
  BOOST_TEST(!f.has("bn1.num_batches_tracked"));
  BOOST_TEST(f.at("bn1.running_var").as<float>() == m.batchnorms.at("bn1").var,
             boost::test_tools::per_element());
  BOOST_TEST(f.metadata.at("popup.csr.layer2.0.downsample.0.weight.stride") == "2");
  BOOST_TEST(f.metadata.at("popup.csr.layer2.0.downsample.0.weight.pad") == "0");
  BOOST_TEST(f.metadata.at("popup.csr.layer2.0.downsample.0.weight.shape") == "[128,64,1,1]");
  // network order: conv1, bn1's state, layer1.0.conv1, ...
  const std::vector<std::string> names = f.names();
  BOOST_TEST(std::vector<std::string>(names.begin(), names.begin() + 6) ==
                 (std::vector<std::string>{"conv1.weight.indptr", "conv1.weight.indices",
                                           "conv1.weight.values", "bn1.running_mean",
                                           "bn1.running_var", "layer1.0.conv1.weight.indptr"}),
             boost::test_tools::per_element());

  const ExportModel affine = model_make("resnet18", {1, 8, 8}, 10, true);
  const FileRead g = csr_read(affine);
  BOOST_TEST(g.tensors.size() == 21u * 3 + 20 * 4);
  BOOST_TEST(g.at("bn1.weight").as<float>() == affine.batchnorms.at("bn1").gamma,
             boost::test_tools::per_element());
  BOOST_TEST(g.at("bn1.bias").as<float>() == affine.batchnorms.at("bn1").beta,
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(csr_layer_keeping_nothing) {
  ExportModel m = model_make("fc:width=0.1", {1, 2, 2}, 2);
  std::fill(m.keep[1].begin(), m.keep[1].end(), uint8_t{0});
  std::fill(m.weights[1].begin(), m.weights[1].end(), 0.0f);
  const FileRead f = csr_read(m);
  BOOST_TEST(f.at("fc2.weight.values").info.shape == (std::vector<int64_t>{0}),
             boost::test_tools::per_element());
  BOOST_TEST(f.at("fc2.weight.indptr").as<int64_t>() == std::vector<int64_t>(11, 0),
             boost::test_tools::per_element());
  csr_check(f, m);
}

BOOST_AUTO_TEST_CASE(model_not_fitting_its_network_writes_nothing) {
  for (const bool torch : {true, false}) {
    ExportModel m = model_make("resnet18", {1, 4, 4}, 2);
    TempDir dir;
    const auto attempt = [&](const ExportModel& model) {
      OutputFile out(dir.file("a.safetensors"));
      torch ? torch_export(out, model) : csr_export(out, model);
    };
    ExportModel short_weights = m;
    short_weights.weights[3].pop_back();
    BOOST_CHECK_THROW(attempt(short_weights), InvalidArgument);
    ExportModel short_keep = m;
    short_keep.keep.pop_back();
    BOOST_CHECK_THROW(attempt(short_keep), InvalidArgument);
    ExportModel no_bn = m;
    no_bn.batchnorms.erase("layer3.0.downsample.1");
    BOOST_CHECK_THROW(attempt(no_bn), InvalidArgument);
    ExportModel bad_bn = m;
    bad_bn.batchnorms["bn1"].var.pop_back();
    BOOST_CHECK_THROW(attempt(bad_bn), InvalidArgument);
    BOOST_TEST(dir.entries() == 0u);
  }
}

BOOST_AUTO_TEST_SUITE_END()
