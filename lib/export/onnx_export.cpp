// onnx_export: the effective network as an ONNX model, opset 13 (formats/onnx.md), built with
// ONNX's own protobuf classes (libonnx-dev). Without them (POPUP_HAVE_ONNX 0) the build can
// only say so.
#include "export/export_writers.hpp"
#include "export/export_metadata.hpp"

#include "error.hpp"

#if POPUP_HAVE_ONNX
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <map>

#include "version.hpp"
#endif

namespace popup {

#if POPUP_HAVE_ONNX
namespace {

constexpr int64_t kOpset = 13;
constexpr int64_t kIrVersion = 7;  // ONNX 1.8, the first IR with opset 13

void attribute_ints(onnx::NodeProto& node, const char* name, std::vector<int64_t> values) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (const int64_t v : values) a->add_ints(v);
}

void attribute_int(onnx::NodeProto& node, const char* name, int64_t value) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void attribute_float(onnx::NodeProto& node, const char* name, float value) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

// A float tensor [n, ...], from little-endian bytes as popup holds them.
void initializer(onnx::GraphProto& graph, const std::string& name,
                 const std::vector<int64_t>& shape, const std::vector<float>& values) {
  onnx::TensorProto* t = graph.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (const int64_t d : shape) t->add_dims(d);
  t->set_raw_data(values.data(), values.size() * sizeof(float));
}

void value_info(onnx::ValueInfoProto& v, const std::string& name,
                const std::vector<int64_t>& dims) {
  v.set_name(name);
  onnx::TypeProto_Tensor* type = v.mutable_type()->mutable_tensor_type();
  type->set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto* shape = type->mutable_shape();
  shape->add_dim()->set_dim_param("N");
  for (const int64_t d : dims) shape->add_dim()->set_dim_value(d);
}

onnx::NodeProto& node(onnx::GraphProto& graph, const char* type, const std::string& name,
                      std::vector<std::string> inputs, const std::string& output) {
  onnx::NodeProto* n = graph.add_node();
  n->set_op_type(type);
  n->set_name(name);
  for (const std::string& in : inputs) n->add_input(in);
  n->add_output(output);
  return *n;
}

// The layer name of a weight tensor: "conv1.weight" -> "conv1".
std::string layer_name(const std::string& tensor) {
  const std::string suffix = ".weight";
  return tensor.size() > suffix.size() &&
                 tensor.compare(tensor.size() - suffix.size(), suffix.size(), suffix) == 0
             ? tensor.substr(0, tensor.size() - suffix.size())
             : tensor;
}

// How many ops read each op's output (the network output counts as a reader of the last).
std::vector<int> reader_counts(const Network& net) {
  std::vector<int> readers(net.ops.size(), 0);
  for (const Op& op : net.ops)
    for (const int in : op.inputs)
      if (in >= 0) ++readers[static_cast<size_t>(in)];
  if (!readers.empty()) ++readers.back();
  return readers;
}

// A BatchNorm folded into the conv before it: w' = w * s and b' = beta - mean * s per output
// channel, s = gamma / sqrt(var + eps), in double, rounded once.
void fold(const BatchNormState& bn, std::vector<float>& w, std::vector<float>& bias) {
  const size_t out = bn.gamma.size(), per = w.size() / out;
  bias.assign(out, 0.0f);
  for (size_t o = 0; o < out; ++o) {
    const double s = static_cast<double>(bn.gamma[o]) /
                     std::sqrt(static_cast<double>(bn.var[o]) + static_cast<double>(kBatchNormEps));
    for (size_t i = 0; i < per; ++i)
      w[o * per + i] = static_cast<float>(static_cast<double>(w[o * per + i]) * s);
    bias[o] =
        static_cast<float>(static_cast<double>(bn.beta[o]) - static_cast<double>(bn.mean[o]) * s);
  }
}

// protobuf's output stream over an OutputFile (which throws IoError on a failed write).
class OutputStream : public google::protobuf::io::CopyingOutputStream {
 public:
  explicit OutputStream(OutputFile& out) : out_(out) {}
  bool Write(const void* buffer, int size) override {
    out_.write(buffer, static_cast<size_t>(size));
    return true;
  }

 private:
  OutputFile& out_;
};

std::string doc_string(const ExportModel& m, const OnnxOptions& o) {
  const InputShape& in = m.recipe.input;
  std::string text = "popup " + m.recipe.arch + " (seed " + std::to_string(m.recipe.seed) +
                     "), from " + m.file + ". Input \"input\" [N, " + std::to_string(in.c) + ", " +
                     std::to_string(in.h) + ", " + std::to_string(in.w) + "]: ";
  text += o.normalise_in_graph
              ? "pixel values / 255, in [0, 1]; the graph normalises them."
              : "normalised images, (x / 255 - popup.export.mean) / popup.export.std per channel.";
  return text + " Output \"logits\" [N, " + std::to_string(m.recipe.classes) +
         "]: class scores before softmax, classes in popup.export.classes.";
}

}  // namespace

bool onnx_export_available() { return true; }

void onnx_export(OutputFile& out, const ExportModel& m, const OnnxOptions& o) {
  export_model_check(m);
  onnx::ModelProto model;
  model.set_ir_version(kIrVersion);
  model.set_producer_name("popup");
  model.set_producer_version(POPUP_VERSION);
  model.set_doc_string(doc_string(m, o));
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOpset);
  Metadata metadata = export_metadata(m, "onnx");
  metadata["popup.export.normalisation"] = o.normalise_in_graph ? "graph" : "metadata";
  metadata["popup.export.fold_bn"] = o.fold_bn ? "1" : "0";
  for (const auto& [key, value] : metadata) {
    onnx::StringStringEntryProto* p = model.add_metadata_props();
    p->set_key(key);
    p->set_value(value);
  }

  onnx::GraphProto& graph = *model.mutable_graph();
  graph.set_name(m.recipe.arch);
  const Network& net = m.net;
  value_info(*graph.add_input(), "input", {net.input.c, net.input.h, net.input.w});
  std::string x = "input";
  if (o.normalise_in_graph) {
    // [C, 1, 1], broadcast over N, H and W (OpenCV 4.6 mishandles [1, C, 1, 1] when N > 1)
    const std::vector<int64_t> shape = {net.input.c, 1, 1};
    initializer(graph, "input.mean", shape, m.mean);
    initializer(graph, "input.std", shape, m.stddev);
    node(graph, "Sub", "input.sub_mean", {x, "input.mean"}, "input.centred");
    node(graph, "Div", "input.div_std", {"input.centred", "input.std"}, "input.normalised");
    x = "input.normalised";
  }

  const std::vector<int> readers = reader_counts(net);
  std::vector<std::string> names(net.ops.size());  // the value each op's output is
  std::vector<bool> flat(net.ops.size(), false);   // [N, features] rather than [N, C, H, W]
  std::map<int, int> folded;                       // BatchNorm op -> the conv it is folded into
  const size_t last = net.ops.size() - 1;
  for (size_t j = 0; j < net.ops.size(); ++j) {
    const Op& op = net.ops[j];
    const auto in = [&](size_t k) { return op.inputs[k] < 0 ? x : names[size_t(op.inputs[k])]; };
    const bool in_flat = op.inputs.empty() || op.inputs[0] < 0 ? false : flat[size_t(op.inputs[0])];
    const std::string tag = std::to_string(j);
    std::string name;
    switch (op.kind) {
      case OpKind::conv: {
        const TensorSpec& t = net.tensors[size_t(op.tensor)];
        name = layer_name(t.name);
        std::vector<float> w = m.weights[size_t(op.tensor)], bias;
        // --fold-bn: a BatchNorm reading only this conv takes its place
        const int next = static_cast<int>(j) + 1;
        if (o.fold_bn && readers[j] == 1 && size_t(next) < net.ops.size() &&
            net.ops[size_t(next)].kind == OpKind::batchnorm &&
            net.ops[size_t(next)].inputs[0] == static_cast<int>(j)) {
          fold(m.batchnorms.at(net.ops[size_t(next)].name), w, bias);
          folded[next] = static_cast<int>(j);
        }
        initializer(graph, t.name, t.shape, w);
        std::vector<std::string> inputs = {in(0), t.name};
        if (!bias.empty()) {
          initializer(graph, name + ".bias", {t.shape[0]}, bias);
          inputs.push_back(name + ".bias");
        }
        onnx::NodeProto& n = node(graph, "Conv", name, inputs, name);
        attribute_ints(n, "kernel_shape", {t.shape[2], t.shape[3]});
        attribute_ints(n, "strides", {t.stride, t.stride});
        attribute_ints(n, "pads", {t.pad, t.pad, t.pad, t.pad});
        break;
      }
      case OpKind::linear: {
        const TensorSpec& t = net.tensors[size_t(op.tensor)];
        name = layer_name(t.name);
        std::string a = in(0);
        if (!in_flat) {  // [N, C, H, W] -> [N, C*H*W], in C, H, W order
          onnx::NodeProto& f = node(graph, "Flatten", name + ".flatten", {a}, name + ".flat");
          attribute_int(f, "axis", 1);
          a = name + ".flat";
        }
        initializer(graph, t.name, t.shape, m.weights[size_t(op.tensor)]);
        onnx::NodeProto& n = node(graph, "Gemm", name, {a, t.name}, name);
        attribute_int(n, "transB", 1);
        flat[j] = true;
        break;
      }
      case OpKind::relu:
        name = "relu." + tag;
        node(graph, "Relu", name, {in(0)}, name);
        flat[j] = in_flat;
        break;
      case OpKind::maxpool: {
        name = "maxpool." + tag;
        onnx::NodeProto& n = node(graph, "MaxPool", name, {in(0)}, name);
        attribute_ints(n, "kernel_shape", {op.kernel, op.kernel});
        attribute_ints(n, "strides", {op.stride, op.stride});
        attribute_ints(n, "pads", {op.pad, op.pad, op.pad, op.pad});
        break;
      }
      case OpKind::batchnorm: {
        if (folded.count(static_cast<int>(j))) {
          name = names[size_t(folded[static_cast<int>(j)])];
          break;
        }
        name = op.name;
        const BatchNormState& bn = m.batchnorms.at(op.name);
        const int64_t c = static_cast<int64_t>(bn.gamma.size());
        initializer(graph, name + ".weight", {c}, bn.gamma);
        initializer(graph, name + ".bias", {c}, bn.beta);
        initializer(graph, name + ".running_mean", {c}, bn.mean);
        initializer(graph, name + ".running_var", {c}, bn.var);
        onnx::NodeProto& n = node(graph, "BatchNormalization", name,
                                  {in(0), name + ".weight", name + ".bias", name + ".running_mean",
                                   name + ".running_var"},
                                  name);
        attribute_float(n, "epsilon", kBatchNormEps);
        flat[j] = in_flat;
        break;
      }
      case OpKind::add:
        name = "add." + tag;
        node(graph, "Add", name, {in(0), in(1)}, name);
        flat[j] = in_flat;
        break;
      case OpKind::global_avgpool:
        name = "avgpool";
        node(graph, "GlobalAveragePool", name, {in(0)}, name);
        break;
    }
    names[j] = name;
  }
  // The last op's output is the model's: "logits" [N, classes].
  const std::string logits = names[last];
  for (onnx::NodeProto& n : *graph.mutable_node())
    for (std::string& output : *n.mutable_output())
      if (output == logits) output = "logits";
  for (onnx::NodeProto& n : *graph.mutable_node())
    for (std::string& input : *n.mutable_input())
      if (input == logits) input = "logits";
  if (!flat[last])
    throw InvalidArgument("", m.recipe.arch + ": the network does not end in a linear layer");
  onnx::ValueInfoProto& output = *graph.add_output();
  output.set_name("logits");
  onnx::TensorShapeProto* shape = output.mutable_type()->mutable_tensor_type()->mutable_shape();
  output.mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  shape->add_dim()->set_dim_param("N");
  shape->add_dim()->set_dim_value(net.classes);

  // Straight into the output, without a second copy of the weights in memory.
  OutputStream stream(out);
  google::protobuf::io::CopyingOutputStreamAdaptor adaptor(&stream);
  if (!model.SerializeToZeroCopyStream(&adaptor))
    throw InvalidArgument("", "the ONNX model of " + m.file + " could not be serialised");
  adaptor.Flush();
  out.commit();
}

#else

bool onnx_export_available() { return false; }

void onnx_export(OutputFile&, const ExportModel&, const OnnxOptions&) {
  throw InvalidArgument("",
                        "this popup-export was built without ONNX (install libonnx-dev and "
                        "libprotobuf-dev, then rebuild)");
}

#endif

}  // namespace popup
