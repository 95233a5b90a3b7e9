// The options of the streamed image-folder data sets (images:DIR, imagenet:DIR) that
// popup-train and popup-eval share: --workers, --max-bad-images, --image-size; and how their
// warnings and notes reach stderr.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "data/dataset.hpp"
#include "option_checks.hpp"

namespace popup_tool {

struct ImageOptions {
  int workers = 0;  // 0: the number of cores, at most 8
  int64_t max_bad_images = 10;
  int64_t image_size = 224;
};

inline void image_options_add(CLI::App& app, ImageOptions& o) {
  app.add_option("--workers", o.workers,
                 "images:/imagenet: decoding threads, 1 to 256 (default: the cores, at most 8)")
      ->check(integer_in(1, 256))
      ->group("Data");
  app.add_option("--max-bad-images", o.max_bad_images,
                 "images:/imagenet: unreadable images left out (each warned about) before "
                 "the run stops, 0 to 2^40 (default 10)")
      ->check(integer_in(0, int64_t{1} << 40))
      ->group("Data");
  app.add_option("--image-size", o.image_size,
                 "images:/imagenet: input S x S, 16 to 1024 (default 224; evaluation resizes "
                 "the shorter side to round(S * 256 / 224) first)")
      ->check(integer_in(popup::kMinImageSize, popup::kMaxImageSize))
      ->group("Data");
}

// Into `d`: the options, and warnings printed as "TOOL: warning: ..." lines on stderr.
inline void image_options_apply(const ImageOptions& o, const std::string& tool,
                                popup::DatasetOptions& d) {
  d.workers = o.workers;
  d.max_bad_images = o.max_bad_images;
  d.image_size = o.image_size;
  d.warn = [tool](const std::string& message) {
    std::fprintf(stderr, "%s: warning: %s\n", tool.c_str(), message.c_str());
  };
}

// The data set's notes (skipped files, an unexpected class count), one line each on stderr.
inline void dataset_notes_print(const popup::Dataset& data, const std::string& tool) {
  for (const std::string& note : data.notes)
    std::fprintf(stderr, "%s: note: %s\n", tool.c_str(), note.c_str());
}

}  // namespace popup_tool
