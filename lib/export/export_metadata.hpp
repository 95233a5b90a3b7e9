// The metadata every export file carries (formats/torch.md, formats/csr.md): the source's
// popup.* keys less popup.kind, popup.version and popup.crc32 (an export is not a popup file),
// and popup.export.*: the format, the data set, its input normalisation and class names.
#pragma once

#include <string>
#include <vector>

#include "export/export_model.hpp"
#include "format/safetensors.hpp"

namespace popup {

// Version of the layouts of formats/torch.md and formats/csr.md (key popup.export.version).
constexpr int kExportVersion = 1;

// The source's popup.* keys but kind, version and crc32, plus popup.export.format = `format`,
// popup.export.version, popup.export.data, popup.export.mean and popup.export.std (JSON arrays
// of numbers) and popup.export.classes (a JSON array of strings).
Metadata export_metadata(const ExportModel& model, const std::string& format);

// A JSON array of the floats, each the shortest decimal text that reads back as the same
// float ("[0.286]", not "[0.28600001335144043]").
std::string export_json_floats(const std::vector<float>& values);
// A shape as a JSON array of integers ("[64,3,3,3]").
std::string export_json_shape(const std::vector<int64_t>& shape);

// The architecture's family: the spec before ':' ("conv6:width=2" -> "conv6").
std::string export_arch_family(const std::string& arch);

// Throws InvalidArgument naming model.file unless weights and keep hold one vector per tensor
// of model.net, of its size, and batchnorms one state of [C] vectors per BatchNorm op.
void export_model_check(const ExportModel& model);

}  // namespace popup
