// The file index of an image-folder data set (images:DIR, imagenet:DIR; DESIGN.md §6):
// DIR/train/<class>/** and DIR/val/<class>/** (DIR/test/ when val/ is absent), listed as
// torchvision's ImageFolder lists them, from directory listings alone (no file is opened).
// The paths are stored compactly (one character buffer, offsets), so that ImageNet's 1.28 M
// training files cost tens of MB.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace popup {

// One split's files: example i is the file folder + "/" + classes[labels[i]] + "/" + name(i),
// where name(i) is the path below the class folder.
class ImageIndex {
 public:
  std::string folder;                // the split's folder, e.g. DIR/train
  std::vector<std::string> classes;  // sorted by byte order
  std::vector<int32_t> labels;       // of each file
  int64_t other_files = 0;           // files skipped for their extension

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  std::string name(int64_t i) const;  // below the class folder, e.g. "sub/x.JPEG"
  std::string path(int64_t i) const;  // the whole path
  void add(const std::string& name, int32_t label);
  // The files where keep[i] == want, in order.
  ImageIndex select(const std::vector<bool>& keep, bool want) const;
  // Only the first n files (n < size()).
  void limit(int64_t n);
  void shrink();         // capacity to size, once listed
  size_t bytes() const;  // memory held by the names (for tests and reports)

 private:
  std::vector<char> names_;       // every name, back to back, no separators
  std::vector<uint64_t> ends_{};  // ends_[i]: where name i ends in names_
};

// True for names ending in .jpg, .jpeg or .png, in any case.
bool image_file_name(const std::string& name);

// Lists one split folder: classes are its sub-folders (names starting with '.' skipped),
// sorted by byte order (as Python's sorted()); each class's files are found recursively,
// following links to folders (a folder already on the path is skipped: link loops end), in
// the order of torchvision's make_dataset (folders by their path, files by name within a
// folder, byte order); only .jpg, .jpeg and .png names (any case) are examples, other files
// are counted in other_files; names starting with '.' are skipped. Throws IoError (a missing
// or unreadable folder), FormatError (no class folders, a training class without images
// when `require_each`, no images at all).
ImageIndex image_folder_list(const std::string& split_folder, bool require_each);

struct ImageFolders {
  ImageIndex train, test;  // test: val/, or test/ when val/ is absent
};

// DIR/train and DIR/val (else DIR/test). Throws as image_folder_list, and MismatchError
// naming the evaluation folder when its classes differ from train's.
ImageFolders image_folders_read(const std::string& dir);

// The class names of DIR/train only, sorted (popup-init --data: no file listing).
std::vector<std::string> image_folder_classes(const std::string& split_folder);

}  // namespace popup
