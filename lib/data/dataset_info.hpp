// What popup knows about a data set without reading it: the input shape and class count
// that popup-init --data uses to build a recipe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/arch.hpp"

namespace popup {

struct DatasetInfo {
  InputShape input;
  int64_t classes = 0;
  std::vector<std::string> class_names;  // image folders only
};

// "fashion-mnist", "mnist", "cifar10[:DIR]", "cifar100[:DIR]"; "images:DIR" and
// "imagenet:DIR": [3, image_size, image_size] and the class folders of DIR/train (listed, no
// file read; IoError / FormatError as image_folder_classes). Throws InvalidArgument for other
// names, and for sets whose shape is only known by reading them (idx:DIR, png:DIR).
DatasetInfo dataset_info(const std::string& name, int64_t image_size = 224);

// True for the names dataset_load accepts (fashion-mnist[:DIR], mnist:DIR, idx:DIR,
// cifar10:DIR, cifar100:DIR, png:DIR, images:DIR, imagenet:DIR), judged by the part before
// ':' only.
bool dataset_name_known(const std::string& name);

// The default data set, used when neither a data set nor an input shape is given.
constexpr const char* kDefaultDataset = "fashion-mnist";

}  // namespace popup
