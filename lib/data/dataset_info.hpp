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

// The normalisation constants of a data set whose statistics are fixed by its name (per channel,
// of x / 255): fashion-mnist, mnist, cifar10, cifar100, and ImageNet's for images:DIR and
// imagenet:DIR. False for idx:DIR and png:DIR (their training set's statistics) and unknown names.
bool dataset_fixed_normalisation(const std::string& name, std::vector<double>& mean,
                                 std::vector<double>& stddev);

// The class names a data set's name alone gives, in label order: Fashion-MNIST's, MNIST's
// digits and CIFAR-10's; empty for the others (image folders: dataset_info's class_names).
std::vector<std::string> dataset_known_class_names(const std::string& name);

// True for the names dataset_load accepts (fashion-mnist[:DIR], mnist:DIR, idx:DIR,
// cifar10:DIR, cifar100:DIR, png:DIR, images:DIR, imagenet:DIR), judged by the part before
// ':' only.
bool dataset_name_known(const std::string& name);

// The default data set, used when neither a data set nor an input shape is given.
constexpr const char* kDefaultDataset = "fashion-mnist";

}  // namespace popup
