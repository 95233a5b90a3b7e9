// The sparse export (formats/csr.md): per weight tensor, the weights the mask keeps as
// compressed sparse rows over the tensor viewed as [out, in * kh * kw] (scipy's csr_matrix
// layout: indptr, indices, values), and each BatchNorm's state as dense tensors, in network
// order; the metadata gives each layer's full shape, kind, stride and padding.
#include "export/export_writers.hpp"

#include <climits>
#include <deque>

#include "error.hpp"
#include "export/export_metadata.hpp"

namespace popup {
namespace {

// One layer's compressed rows.
struct Csr {
  std::vector<int64_t> indptr;
  std::vector<int32_t> indices;
  std::vector<float> values;
};

Csr csr_make(const ExportModel& model, size_t t) {
  const TensorSpec& spec = model.net.tensors[t];
  const int64_t rows = spec.shape[0];
  const int64_t cols = rows > 0 ? spec.numel() / rows : 0;
  if (cols > INT32_MAX)
    throw InvalidArgument(model.file, "cannot export " + spec.name + " as CSR: " +
                                          std::to_string(cols) + " columns, over 2^31 - 1");
  const std::vector<float>& w = model.weights[t];
  const std::vector<uint8_t>& keep = model.keep[t];
  Csr csr;
  csr.indptr.reserve(static_cast<size_t>(rows) + 1);
  csr.indptr.push_back(0);
  for (int64_t r = 0; r < rows; ++r) {
    const size_t row = static_cast<size_t>(r * cols);
    for (int64_t c = 0; c < cols; ++c)
      if (keep[row + static_cast<size_t>(c)]) {
        csr.indices.push_back(static_cast<int32_t>(c));
        csr.values.push_back(w[row + static_cast<size_t>(c)]);
      }
    csr.indptr.push_back(static_cast<int64_t>(csr.values.size()));
  }
  return csr;
}

}  // namespace

void csr_export(OutputFile& out, const ExportModel& model) {
  export_model_check(model);
  Metadata metadata = export_metadata(model, "csr");
  std::deque<Csr> layers;  // the TensorRefs point into them; a deque never moves its elements
  std::vector<TensorRef> tensors;
  const auto dense = [&](const std::string& name, const std::vector<float>& v) {
    tensors.push_back({name, Dtype::F32, {static_cast<int64_t>(v.size())}, v.data()});
  };
  for (const Op& op : model.net.ops) {
    if (op.kind == OpKind::batchnorm) {
      const BatchNormState& bn = model.batchnorms.at(op.name);
      if (model.affine_bn) {
        dense(op.name + ".weight", bn.gamma);
        dense(op.name + ".bias", bn.beta);
      }
      dense(op.name + ".running_mean", bn.mean);
      dense(op.name + ".running_var", bn.var);
      continue;
    }
    if (op.kind != OpKind::conv && op.kind != OpKind::linear) continue;
    const auto t = static_cast<size_t>(op.tensor);
    const TensorSpec& spec = model.net.tensors[t];
    const Csr& csr = layers.emplace_back(csr_make(model, t));
    const auto nnz = static_cast<int64_t>(csr.values.size());
    tensors.push_back({spec.name + ".indptr",
                       Dtype::I64,
                       {static_cast<int64_t>(csr.indptr.size())},
                       csr.indptr.data()});
    tensors.push_back({spec.name + ".indices", Dtype::I32, {nnz}, csr.indices.data()});
    tensors.push_back({spec.name + ".values", Dtype::F32, {nnz}, csr.values.data()});
    const std::string key = "popup.csr." + spec.name;
    metadata[key + ".shape"] = export_json_shape(spec.shape);
    if (spec.kind == LayerKind::conv) {
      metadata[key + ".kind"] = "conv";
      metadata[key + ".stride"] = std::to_string(spec.stride);
      metadata[key + ".pad"] = std::to_string(spec.pad);
    } else {
      metadata[key + ".kind"] = "linear";
    }
  }
  safetensors_write(out, metadata, tensors);
  out.commit();
}

}  // namespace popup
