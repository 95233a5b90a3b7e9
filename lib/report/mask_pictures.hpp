// The pictures popup-stats --png writes of masks: per layer, white the kept weights, black the
// dropped ones, one file per layer of each input.
#pragma once

#include <string>
#include <vector>

#include "format/mask.hpp"
#include "report/mask_stats.hpp"
#include "report/png_write.hpp"

namespace popup {

// The picture of a layer's kept set (man popup-stats, --png): white kept, black dropped.
GreyImage mask_image(const LayerMask& layer);

// DIR/<stem>.<layer>.png for input `path` (its file name up to the last dot; "-": "stdin"),
// layer "fc1.weight" -> "fc1"; the prefix is DIR/<stem>.
std::string mask_png_prefix(const std::string& dir, const std::string& path);
std::string mask_png_path(const std::string& dir, const std::string& path,
                          const std::string& layer);

// Write the pictures of every layer of every input into `dir` (created if missing). Paths that
// two inputs would share are an InvalidArgument before anything is written.
void mask_pngs_write(const std::string& dir, const std::vector<StatsInput>& inputs);

}  // namespace popup
