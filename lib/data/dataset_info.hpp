// What popup knows about a data set without reading it: the input shape and class count
// that popup-init --data uses to build a recipe.
#pragma once

#include <cstdint>
#include <string>

#include "net/arch.hpp"

namespace popup {

struct DatasetInfo {
  InputShape input;
  int64_t classes = 0;
};

// "fashion-mnist", "mnist", "cifar10[:DIR]", "cifar100[:DIR]". Throws InvalidArgument for
// other names, and for sets whose shape is only known by reading them (idx:DIR, png:DIR).
DatasetInfo dataset_info(const std::string& name);

// True for the names dataset_load accepts (fashion-mnist[:DIR], mnist:DIR, idx:DIR,
// cifar10:DIR, cifar100:DIR, png:DIR), judged by the part before ':' only.
bool dataset_name_known(const std::string& name);

// The default data set, used when neither a data set nor an input shape is given.
constexpr const char* kDefaultDataset = "fashion-mnist";

}  // namespace popup
