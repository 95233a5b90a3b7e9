// The four files of an IDX folder, which the idx and idx_gz fuzz targets write.
#pragma once

namespace popup_fuzz {

constexpr const char* kIdxNames[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

}  // namespace popup_fuzz
