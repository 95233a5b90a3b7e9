// Shapes and class counts of the data sets popup knows by name.
#include "data/dataset_info.hpp"

#include "data/image_folders.hpp"
#include "error.hpp"

namespace popup {

bool dataset_name_known(const std::string& name) {
  const std::string family = name.substr(0, name.find(':'));
  for (const char* known :
       {"fashion-mnist", "mnist", "idx", "cifar10", "cifar100", "png", "images", "imagenet"})
    if (family == known) return true;
  return false;
}

DatasetInfo dataset_info(const std::string& name, int64_t image_size) {
  const size_t colon = name.find(':');
  const std::string family = name.substr(0, colon);
  if ((family == "images" || family == "imagenet") && colon != std::string::npos &&
      colon + 1 < name.size()) {
    DatasetInfo info;
    info.input = {3, image_size, image_size};
    info.class_names = image_folder_classes(name.substr(colon + 1) + "/train");
    info.classes = static_cast<int64_t>(info.class_names.size());
    return info;
  }
  if (family == "fashion-mnist" || family == "mnist") return {{1, 28, 28}, 10, {}};
  if (family == "cifar10") return {{3, 32, 32}, 10, {}};
  if (family == "cifar100") return {{3, 32, 32}, 100, {}};
  if (family == "idx" || family == "png")
    throw InvalidArgument("", "the shape of " + family +
                                  ": data is known only by reading it; give --input and --classes");
  throw InvalidArgument("",
                        "unknown data set '" + name +
                            "' (known: fashion-mnist, mnist, cifar10, cifar100, idx:DIR, png:DIR, "
                            "images:DIR, imagenet:DIR)");
}

}  // namespace popup
