// popup-export: the network a mask or weights file stands for, for other tools (DESIGN.md
// §14): ONNX (opset 13; formats/onnx.md), a PyTorch state_dict in safetensors
// (formats/torch.md), or each layer's kept weights as compressed sparse rows (formats/csr.md).
#include <string>
#include <utility>

#include "export/export_model.hpp"
#include "export/export_writers.hpp"
#include "format/json.hpp"
#include "format/popup_file.hpp"
#include "format/number_text.hpp"
#include "tool_common.hpp"

namespace {

struct Options {
  std::string input = "-", output = "-", format = "onnx", weights, scores, data;
  std::string supermask = "mask", sample_seed_text = "0", normalisation = "graph";
  bool fold_bn = false;
};

popup::SupermaskUse supermask_use(const std::string& text) {
  if (text == "mask") return popup::SupermaskUse::mask;
  if (text == "expected") return popup::SupermaskUse::expected;
  if (text == "sample") return popup::SupermaskUse::sample;
  throw popup_tool::UsageError("--supermask must be mask, expected or sample, not '" +
                               popup::text_excerpt(text) + "'");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Write the network a mask or weights file stands for as ONNX, as a PyTorch state_dict "
      "(safetensors) or as compressed sparse rows.",
      "popup-export"};
  popup_tool::app_setup(app);
  app.footer(
      "Examples:\n"
      "  popup-export conv4.mask -o conv4.onnx\n"
      "  popup-export resnet18.mask --fold-bn -o resnet18.onnx\n"
      "  popup-export conv4.mask --format torch -o conv4.safetensors\n"
      "  popup-init --arch fc --seed 1 | popup-train --epochs 2 | popup-export -o fc.onnx\n\n" +
      app.get_footer());
  Options o;
  popup::ExportSource source;
  popup::OnnxOptions onnx;
  app.add_option("file", o.input, "Mask or weights file (default: - for stdin)");
  app.add_option("-o,--output", o.output, "Output file (default: - for stdout, never a terminal)")
      ->group("Output");
  app.add_option("--format", o.format,
                 "onnx (default: opset 13), torch (the PyTorch module's state_dict, "
                 "safetensors) or csr (each layer's kept weights as compressed sparse rows)")
      ->group("Output");
  app.add_flag("--fold-bn", o.fold_bn,
               "ONNX: fold each BatchNorm into the convolution before it (weights scaled, a bias "
               "added)")
      ->group("Output");
  app.add_option("--normalisation", o.normalisation,
                 "ONNX: graph (default: the input is x / 255 and the graph normalises it) or "
                 "metadata (the input is normalised already; mean and std in the metadata)")
      ->group("Output");
  app.add_option("--weights", o.weights,
                 "Weights to mask (must be those the mask's recipe generates; default: "
                 "regenerated from the recipe)")
      ->group("Input");
  app.add_option("--supermask", o.supermask,
                 "A supermask mask as: mask (default: its deterministic mask, as popup-eval "
                 "evaluates it), expected (w * sigmoid(score)) or sample (one mask drawn from "
                 "sigmoid(score): popup-eval --eval-samples's first of --sample-seed)")
      ->group("Input");
  app.add_option("--scores", o.scores,
                 "A supermask's logits (popup-train --scores-out), for --supermask expected or "
                 "sample")
      ->group("Input");
  app.add_option("--sample-seed", o.sample_seed_text,
                 "Seed of the sampled supermask mask (default 0)")
      ->group("Input");
  app.add_option("--data", o.data,
                 "The data set whose normalisation and class names are recorded (default: the "
                 "one the file was trained on, else fashion-mnist)")
      ->group("Input");
  return popup_tool::tool_main(
      app, argc, argv,
      [&] {
        if (o.format != "onnx" && o.format != "torch" && o.format != "csr")
          throw popup_tool::UsageError("--format must be onnx, torch or csr, not '" +
                                       popup::text_excerpt(o.format) + "'");
        if (o.normalisation != "graph" && o.normalisation != "metadata")
          throw popup_tool::UsageError("--normalisation must be graph or metadata, not '" +
                                       popup::text_excerpt(o.normalisation) + "'");
        if (o.format != "onnx" && o.fold_bn)
          throw popup_tool::UsageError("--fold-bn goes with --format onnx");
        if (o.format != "onnx" && app.count("--normalisation") > 0)
          throw popup_tool::UsageError("--normalisation goes with --format onnx");
        source.supermask = supermask_use(o.supermask);
        if (source.supermask != popup::SupermaskUse::mask && o.scores.empty())
          throw popup_tool::UsageError("--supermask " + o.supermask +
                                       " needs --scores FILE (the supermask's logits)");
        if (source.supermask == popup::SupermaskUse::mask && !o.scores.empty())
          throw popup_tool::UsageError("--scores goes with --supermask expected or sample");
        if (!popup::uint_parse(o.sample_seed_text, source.sample_seed))
          throw popup_tool::UsageError("--sample-seed must be an integer from 0 to 2^64-1");
        if (app.count("--sample-seed") > 0 && source.supermask != popup::SupermaskUse::sample)
          throw popup_tool::UsageError("--sample-seed goes with --supermask sample");
        if (o.format == "onnx" && !popup::onnx_export_available())
          throw popup::Error("",
                             "--format onnx: this popup-export was built without ONNX "
                             "(install libonnx-dev and libprotobuf-dev, then rebuild)");
        popup_tool::paths_check("popup-export", {{"input", o.input},
                                                 {"--weights", o.weights},
                                                 {"--scores", o.scores},
                                                 {"-o", o.output, true}});
        source.input = o.input;
        source.weights = o.weights;
        source.scores = o.scores;
        source.data = o.data;
        onnx.fold_bn = o.fold_bn;
        onnx.normalise_in_graph = o.normalisation == "graph";
      },
      [&] {
        popup::OutputFile out(o.output);  // an unwritable output fails before any work
        popup_tool::stage() = "reading " + o.input;
        popup::PopupFile file = popup::popup_file_read(o.input);
        if (file.kind == popup::FileKind::weights && !o.weights.empty())  // as popup-eval
          throw popup_tool::UsageError(o.input +
                                       ": is a weights file; --weights goes with a mask file");
        const popup::ExportModel model = popup::export_model_load(std::move(file), source);
        popup_tool::stage() = "writing " + o.output;
        if (o.format == "onnx")
          popup::onnx_export(out, model, onnx);
        else if (o.format == "torch")
          popup::torch_export(out, model);
        else
          popup::csr_export(out, model);
      });
}
