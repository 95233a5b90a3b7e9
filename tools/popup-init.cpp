// popup-init: draw a network's frozen random weights from a recipe (architecture,
// distribution, seed) and write them, or only the recipe, as a popup file.
#include <omp.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "net/arch.hpp"
#include "data/dataset.hpp"
#include "data/dataset_info.hpp"
#include "format/popup_file.hpp"
#include "format/recipe.hpp"
#include "report/summary.hpp"
#include "tool_common.hpp"

namespace {

struct Options {
  std::string arch, init = "kaiming-normal", input, data, from, output;
  int64_t classes = 0;
  int64_t image_size = 224;  // --data images:DIR / imagenet:DIR
  double k = 0;
  bool scale = false, recipe_only = false, summary = false, list = false;
  std::string seed_text = "0";
  int threads = 0;
};

uint64_t seed_parse(const std::string& text) {
  uint64_t seed = 0;
  if (!popup::uint_parse(text, seed))
    throw popup::InvalidArgument("--seed",
                                 "must be an integer from 0 to 2^64-1, got '" + text + "'");
  return seed;
}

popup::Recipe recipe_from_options(const Options& o, const CLI::App& app) {
  using popup_tool::UsageError;
  if (!o.from.empty()) {
    for (const char* opt : {"--arch", "--init", "--seed", "--scale", "--k", "--input", "--classes",
                            "--data", "--image-size"})
      if (app.count(opt)) throw UsageError(std::string(opt) + " cannot be used with --from");
    popup_tool::stage() = "reading " + o.from;
    return popup::popup_file_read(o.from, /*keep_data=*/false).recipe;
  }
  if (o.arch.empty()) throw UsageError("--arch is required (see --list)");
  if (o.scale && !app.count("--k")) throw UsageError("--scale needs --k (the fraction kept)");
  if (!o.scale && app.count("--k")) throw UsageError("--k has no effect without --scale");
  if (!o.data.empty() && (!o.input.empty() || app.count("--classes")))
    throw UsageError("give either --data or --input and --classes, not both");
  if (o.input.empty() != (app.count("--classes") == 0))
    throw UsageError("--input and --classes go together");
  const std::string family = o.data.substr(0, o.data.find(':'));
  if (app.count("--image-size") && family != "images" && family != "imagenet")
    throw UsageError("--image-size goes with --data images:DIR or imagenet:DIR");
  popup::Recipe r;
  r.arch = o.arch;
  if (!o.input.empty()) {
    r.input = popup::input_shape_parse(o.input);
    r.classes = o.classes;
  } else {
    const popup::DatasetInfo d =
        popup::dataset_info(o.data.empty() ? popup::kDefaultDataset : o.data, o.image_size);
    r.input = d.input;
    r.classes = d.classes;
  }
  r.init = popup::init_parse(o.init);
  if (o.scale && !(o.k > 0 && o.k <= 1))
    throw popup::InvalidArgument("--k", "must be in (0, 1], got " + popup::double_format(o.k));
  r.scale_k = o.scale ? o.k : 1.0;
  r.seed = seed_parse(o.seed_text);
  return popup::recipe_validated(r);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Draw the frozen random weights of a network from a seed, as a popup weights "
      "file (or only its recipe).",
      "popup-init"};
  popup_tool::app_setup(app);
  app.footer(
      "Examples:\n"
      "  popup-init --arch conv4 --init signed-constant --seed 1 | popup-train -o c4.mask\n"
      "  popup-init --arch conv6 --data cifar10 --seed 1 --recipe -o conv6.recipe\n"
      "  popup-init --from c4.mask -o c4.weights    # the weights a mask selects from\n\n" +
      app.get_footer());
  Options o;
  app.add_option(
         "--arch", o.arch,
         "Architecture spec: fc, conv2, conv4, conv6, conv8 (with "
         ":width=W), resnet18, resnet34, resnet50, resnet101, wide-resnet50, wide-resnet101; e.g. "
         "conv6:width=2 (see --list)")
      ->group("Network");
  app.add_option("--input", o.input,
                 "Input shape CxHxW, e.g. 3x32x32 (with --classes; for idx: and png: data sets)")
      ->group("Network");
  app.add_option("--classes", o.classes, "Number of classes, 1 to 1000000 (with --input)")
      ->check(popup_tool::integer_in(1, 1000000))
      ->group("Network");
  app.add_option("--data", o.data,
                 "Take input shape and classes from a data set: fashion-mnist (default), mnist, "
                 "cifar10, cifar100 (a :DIR suffix is ignored), images:DIR, imagenet:DIR (the "
                 "class folders of DIR/train)")
      ->group("Network");
  app.add_option("--image-size", o.image_size,
                 "With --data images:DIR or imagenet:DIR: the input 3 x S x S, 16 to 1024 "
                 "(default 224)")
      ->check(popup_tool::integer_in(popup::kMinImageSize, popup::kMaxImageSize))
      ->group("Network");
  app.add_flag("--list", o.list, "List the architectures, distributions and data sets, then exit")
      ->group("Network");
  app.add_option("--init", o.init,
                 "Distribution: kaiming-normal (default), signed-constant, kaiming-uniform, "
                 "xavier-normal, unsigned-constant")
      ->group("Weights");
  app.add_flag("--scale", o.scale,
               "Divide fan_in by k, i.e. multiply the standard deviation by "
               "1/sqrt(k) (the paper's \"scaled\" variants; needs --k)")
      ->group("Weights");
  app.add_option("--k", o.k, "Fraction of weights training will keep, in (0, 1]; only with --scale")
      ->group("Weights");
  app.add_option("--seed", o.seed_text, "Seed of the weights, 0 to 2^64-1 (default 0)")
      ->group("Weights");
  app.add_option("--from", o.from,
                 "Take the whole recipe from FILE (any popup file, - for stdin) and generate its "
                 "weights again; not with the options above")
      ->group("Weights");
  app.add_option("-o,--output", o.output, "Output file (default: - for stdout, never a terminal)")
      ->group("Output");
  app.add_flag("--recipe", o.recipe_only,
               "Write only the recipe (under 1 KiB: any tool regenerates the weights from it), "
               "not the weights")
      ->group("Output");
  app.add_flag("--summary", o.summary,
               "Print a table of the layers on stdout; writes a file only with -o")
      ->group("Output");
  app.add_option("--threads", o.threads,
                 "CPU threads for generation (default: "
                 "OMP_NUM_THREADS or one per CPU); the weights do not depend on it")
      ->check(popup_tool::integer_in(1, 1024))
      ->group("Performance");

  popup::Recipe recipe;
  return popup_tool::tool_main(
      app, argc, argv,
      [&] {
        if (o.list) return;
        if (o.threads > 0) omp_set_num_threads(o.threads);
        popup_tool::paths_check("popup-init", {{"--from", o.from}, {"-o", o.output, true}});
        recipe = recipe_from_options(o, app);
        const bool to_stdout = o.output.empty() || o.output == "-";
        if (o.summary && o.output == "-")
          throw popup_tool::UsageError("--summary prints on stdout: give -o FILE for the file");
        if (!o.summary && to_stdout && isatty(STDOUT_FILENO))
          throw popup_tool::UsageError(
              "refusing to write binary data to a terminal "
              "(give -o FILE, redirect stdout, or use --summary)");
      },
      [&] {
        if (o.list) {
          std::fputs(popup::catalogue_text().c_str(), stdout);
          return;
        }
        if (o.summary) std::fputs(popup::recipe_summary(recipe).c_str(), stdout);
        const bool write = !o.summary || !o.output.empty();
        if (!write) return;
        popup_tool::stage() = popup_tool::generating_stage(recipe);
        popup::OutputFile out(o.output.empty() ? "-" : o.output);
        if (o.recipe_only)
          popup::recipe_write(out, recipe);
        else
          popup::weights_write_generated(out, recipe);
      });
}
