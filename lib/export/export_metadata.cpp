// The metadata of the export files (see export_metadata.hpp) and the checks of a model the
// writers share.
#include "export/export_metadata.hpp"

#include <cstdio>
#include <cstdlib>

#include "error.hpp"
#include "format/json_write.hpp"
#include "train/train_config.hpp"

namespace popup {
namespace {

// The shortest decimal text (%.Ng, N = 1 .. 9) that reads back as `v`, as a double: written
// by JsonWriter::number it gives that text again.
double shortest_float(float v) {
  char buf[32];
  for (int digits = 1; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(v));
    if (std::strtof(buf, nullptr) == v) return std::strtod(buf, nullptr);
  }
  return static_cast<double>(v);  // 9 digits always read back; not reached
}

}  // namespace

std::string export_json_floats(const std::vector<float>& values) {
  JsonWriter w;
  w.array_begin();
  for (const float v : values) w.number(shortest_float(v));
  return w.array_end().text();
}

std::string export_json_shape(const std::vector<int64_t>& shape) {
  JsonWriter w;
  w.array_begin();
  for (const int64_t d : shape) w.integer(d);
  return w.array_end().text();
}

std::string export_arch_family(const std::string& arch) { return arch.substr(0, arch.find(':')); }

Metadata export_metadata(const ExportModel& model, const std::string& format) {
  Metadata metadata;
  for (const auto& [key, value] : model.metadata)
    if (key.rfind("popup.", 0) == 0 && key != "popup.kind" && key != "popup.version" &&
        key != "popup.crc32")
      metadata[key] = value;
  for (const auto& [key, value] : model.choices) metadata[key] = value;
  metadata["popup.export.format"] = format;
  metadata["popup.export.version"] = std::to_string(kExportVersion);
  metadata["popup.export.data"] = model.data;
  metadata["popup.export.mean"] = export_json_floats(model.mean);
  metadata["popup.export.std"] = export_json_floats(model.stddev);
  metadata["popup.export.classes"] = classes_json(model.class_names);
  return metadata;
}

void export_model_check(const ExportModel& model) {
  const auto fail = [&](const std::string& what) {
    throw InvalidArgument(model.file, "cannot export: " + what);
  };
  const std::vector<TensorSpec>& tensors = model.net.tensors;
  if (model.weights.size() != tensors.size() || model.keep.size() != tensors.size())
    fail(std::to_string(model.weights.size()) + " weight and " + std::to_string(model.keep.size()) +
         " keep tensors for a network of " + std::to_string(tensors.size()));
  for (size_t t = 0; t < tensors.size(); ++t) {
    const auto n = static_cast<size_t>(tensors[t].numel());
    if (model.weights[t].size() != n || model.keep[t].size() != n)
      fail(tensors[t].name + " holds " + std::to_string(model.weights[t].size()) + " weights and " +
           std::to_string(model.keep[t].size()) + " keep flags, expected " + std::to_string(n));
  }
  for (const Op& op : model.net.ops) {
    if (op.kind != OpKind::batchnorm) continue;
    const auto it = model.batchnorms.find(op.name);
    if (it == model.batchnorms.end()) fail("no state for BatchNorm " + op.name);
    const BatchNormState& s = it->second;
    const auto c = static_cast<size_t>(op.c);
    if (s.gamma.size() != c || s.beta.size() != c || s.mean.size() != c || s.var.size() != c)
      fail("BatchNorm " + op.name + " state is not [" + std::to_string(op.c) + "]");
  }
}

}  // namespace popup
