// The three export formats (formats/onnx.md, formats/torch.md, formats/csr.md): ONNX (opset 13), a
// PyTorch state_dict in a safetensors file, and per-layer compressed sparse rows. Each writes the
// whole file to `out` and commits it.
#pragma once

#include "export/export_model.hpp"
#include "format/output_file.hpp"

namespace popup {

struct OnnxOptions {
  bool fold_bn = false;  // BatchNorm folded into the preceding convolution's weights and bias
  bool normalise_in_graph = true;  // input x / 255 in [0, 1], normalised by Sub and Div nodes;
                                   // false: the input is normalised already (mean, std in metadata)
};

// True when this build can write ONNX (libonnx-dev and libprotobuf-dev were found).
bool onnx_export_available();
void onnx_export(OutputFile& out, const ExportModel& model, const OnnxOptions& options);

// The state_dict of the matching PyTorch module: torchvision's names for the ResNets (with
// BatchNorm gamma 1 and beta 0 where not affine, num_batches_tracked, fc.bias 0), the official
// hidden-networks code's for fc and convN (its FC/ConvN modules: linear layers as 1x1 convs).
void torch_export(OutputFile& out, const ExportModel& model);

// Per weight tensor, the kept weights as compressed sparse rows over [out, in * kh * kw], and
// the BatchNorm state as dense tensors.
void csr_export(OutputFile& out, const ExportModel& model);

}  // namespace popup
