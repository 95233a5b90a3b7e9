// popup-bench --loader DATA: the data pipeline alone, images/s of a streamed image-folder
// training split (read, decode, RandomResizedCrop, flip, normalise) as the trainer's
// BatchLoader hands them out, with no network behind it. scripts/bench-data-pipeline.sh puts the
// figure beside torchvision's ImageFolder + DataLoader on the same folder and cores.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace popup_bench {

struct LoaderOptions {
  std::string data;    // images:DIR or imagenet:DIR
  int workers = 2;     // decoding threads
  int64_t batch = 64;  // images per batch
  int64_t images = 0;  // stop after this many images (0: one whole epoch)
  int64_t size = 224;  // output S x S (--image-size)
  uint64_t seed = 0;
  bool full_decode = false;  // JPEGs decoded at full size (no DCT scaling): torchvision's pixels
};

// Times one epoch (or `images` images) from the loader's creation to its last batch; prints
// one line on stdout and, when `json` is open, one JSON object. Returns images/s.
double loader_bench(const LoaderOptions& o, std::FILE* json);

}  // namespace popup_bench
