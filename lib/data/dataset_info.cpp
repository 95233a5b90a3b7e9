// Shapes and class counts of the data sets popup knows by name.
#include "data/dataset_info.hpp"

#include "data/image_folders.hpp"
#include "data/image_prepare.hpp"
#include "error.hpp"

namespace popup {

bool dataset_name_known(const std::string& name) {
  const std::string family = name.substr(0, name.find(':'));
  for (const char* known :
       {"fashion-mnist", "mnist", "idx", "cifar10", "cifar100", "png", "images", "imagenet"})
    if (family == known) return true;
  return false;
}

bool dataset_fixed_normalisation(const std::string& name, std::vector<double>& mean,
                                 std::vector<double>& stddev) {
  const std::string family = name.substr(0, name.find(':'));
  if (family == "fashion-mnist") {
    mean = {0.2860}, stddev = {0.3530};
  } else if (family == "mnist") {
    mean = {0.1307}, stddev = {0.3081};
  } else if (family == "cifar10") {
    mean = {0.4914, 0.4822, 0.4465}, stddev = {0.2470, 0.2435, 0.2616};
  } else if (family == "cifar100") {
    mean = {0.5071, 0.4865, 0.4409}, stddev = {0.2673, 0.2564, 0.2762};
  } else if (family == "images" || family == "imagenet") {
    const ImageTransform imagenet;
    mean.assign(imagenet.mean, imagenet.mean + 3);
    stddev.assign(imagenet.stddev, imagenet.stddev + 3);
  } else {
    return false;
  }
  return true;
}

std::vector<std::string> dataset_known_class_names(const std::string& name) {
  const std::string family = name.substr(0, name.find(':'));
  if (family == "fashion-mnist")
    return {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
            "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  if (family == "mnist") return {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  if (family == "cifar10")
    return {"airplane", "automobile", "bird",  "cat",  "deer",
            "dog",      "frog",       "horse", "ship", "truck"};
  return {};
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
