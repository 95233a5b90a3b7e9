// Listing image-folder splits: class folders, their files found recursively in
// torchvision's order, stored as one character buffer with offsets.
#include "data/image_folders.hpp"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "error.hpp"

namespace popup {

namespace {

struct Entry {
  std::string name;
  bool folder = false;
};

// The entries of `dir` (names starting with '.' skipped), each a folder or not: a link is
// followed; an entry whose target cannot be read (a dangling link) is not a folder.
std::vector<Entry> entries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) throw IoError(dir, std::string("cannot list the folder: ") + std::strerror(errno));
  std::vector<Entry> list;
  errno = 0;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    Entry entry{e->d_name, false};
    if (e->d_type == DT_DIR) {
      entry.folder = true;
    } else if (e->d_type == DT_LNK || e->d_type == DT_UNKNOWN) {
      struct stat s;
      entry.folder = stat((dir + "/" + entry.name).c_str(), &s) == 0 && S_ISDIR(s.st_mode);
    }
    list.push_back(std::move(entry));
    errno = 0;
  }
  const int error = errno;
  closedir(d);
  if (error) throw IoError(dir, std::string("cannot list the folder: ") + std::strerror(error));
  return list;
}

struct FolderId {
  dev_t dev;
  ino_t ino;
  bool operator==(const FolderId& o) const { return dev == o.dev && ino == o.ino; }
};

FolderId folder_id(const std::string& dir) {
  struct stat s;
  if (stat(dir.c_str(), &s) != 0)
    throw IoError(dir, std::string("cannot read the folder: ") + std::strerror(errno));
  return {s.st_dev, s.st_ino};
}

struct Folder {
  std::string rel;                 // below the class folder; "" for the class folder
  std::vector<std::string> files;  // image names, sorted
};

// Every folder below `root` + rel, depth first; `path` holds the folders being walked.
void walk(const std::string& root, const std::string& rel, std::vector<FolderId>& path,
          std::vector<Folder>& folders, int64_t& other_files) {
  const std::string dir = rel.empty() ? root : root + "/" + rel;
  const FolderId id = folder_id(dir);
  if (std::find(path.begin(), path.end(), id) != path.end()) return;  // a link loop
  path.push_back(id);
  Folder here{rel, {}};
  std::vector<std::string> subfolders;
  for (Entry& e : entries(dir)) {
    if (e.folder)
      subfolders.push_back(std::move(e.name));
    else if (image_file_name(e.name))
      here.files.push_back(std::move(e.name));
    else
      ++other_files;
  }
  std::sort(here.files.begin(), here.files.end());
  folders.push_back(std::move(here));
  for (const std::string& sub : subfolders)
    walk(root, rel.empty() ? sub : rel + "/" + sub, path, folders, other_files);
  path.pop_back();
}

}  // namespace

bool image_file_name(const std::string& name) {
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos) return false;
  std::string extension = name.substr(dot + 1);
  for (char& c : extension) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return extension == "jpg" || extension == "jpeg" || extension == "png";
}

std::string ImageIndex::name(int64_t i) const {
  const uint64_t begin = i == 0 ? 0 : ends_[static_cast<size_t>(i - 1)];
  const uint64_t end = ends_[static_cast<size_t>(i)];
  return std::string(names_.data() + begin, names_.data() + end);
}

std::string ImageIndex::path(int64_t i) const {
  return folder + "/" + classes[static_cast<size_t>(labels[static_cast<size_t>(i)])] + "/" +
         name(i);
}

void ImageIndex::add(const std::string& name, int32_t label) {
  names_.insert(names_.end(), name.begin(), name.end());
  ends_.push_back(names_.size());
  labels.push_back(label);
}

ImageIndex ImageIndex::select(const std::vector<bool>& keep, bool want) const {
  ImageIndex out;
  out.folder = folder;
  out.classes = classes;
  out.other_files = other_files;
  for (int64_t i = 0; i < size(); ++i)
    if (keep[static_cast<size_t>(i)] == want) out.add(name(i), labels[static_cast<size_t>(i)]);
  out.shrink();
  return out;
}

void ImageIndex::limit(int64_t n) {
  if (n <= 0 || n >= size()) return;
  names_.resize(ends_[static_cast<size_t>(n - 1)]);
  ends_.resize(static_cast<size_t>(n));
  labels.resize(static_cast<size_t>(n));
  shrink();
}

void ImageIndex::shrink() {
  names_.shrink_to_fit();
  ends_.shrink_to_fit();
  labels.shrink_to_fit();
}

size_t ImageIndex::bytes() const {
  return names_.capacity() + ends_.capacity() * sizeof(uint64_t) +
         labels.capacity() * sizeof(int32_t);
}

std::vector<std::string> image_folder_classes(const std::string& split_folder) {
  std::vector<std::string> classes;
  for (Entry& e : entries(split_folder))
    if (e.folder) classes.push_back(std::move(e.name));
  if (classes.empty()) throw FormatError(split_folder, "no class folders");
  std::sort(classes.begin(), classes.end());
  return classes;
}

ImageIndex image_folder_list(const std::string& split_folder, bool require_each) {
  ImageIndex index;
  index.folder = split_folder;
  index.classes = image_folder_classes(split_folder);
  for (size_t label = 0; label < index.classes.size(); ++label) {
    const std::string root = split_folder + "/" + index.classes[label];
    std::vector<FolderId> path;
    std::vector<Folder> folders;
    walk(root, "", path, folders, index.other_files);
    std::sort(folders.begin(), folders.end(),
              [](const Folder& a, const Folder& b) { return a.rel < b.rel; });
    const int64_t before = index.size();
    for (const Folder& f : folders)
      for (const std::string& file : f.files)
        index.add(f.rel.empty() ? file : f.rel + "/" + file, static_cast<int32_t>(label));
    if (require_each && index.size() == before)
      throw FormatError(root, "no .jpg, .jpeg or .png file in the class folder");
  }
  if (index.size() == 0) throw FormatError(split_folder, "no .jpg, .jpeg or .png images");
  index.shrink();
  return index;
}

ImageFolders image_folders_read(const std::string& dir) {
  struct stat s;
  const std::string val = dir + "/val";
  const std::string test = stat(val.c_str(), &s) == 0 ? val : dir + "/test";
  ImageFolders f;
  f.train = image_folder_list(dir + "/train", true);
  f.test = image_folder_list(test, false);
  if (f.test.classes != f.train.classes) {
    size_t i = 0;
    while (i < f.test.classes.size() && i < f.train.classes.size() &&
           f.test.classes[i] == f.train.classes[i])
      ++i;
    const std::string what = i < f.test.classes.size()
                                 ? "has class folder '" + f.test.classes[i] + "'"
                                 : "lacks class folder '" + f.train.classes[i] + "'";
    throw MismatchError(test, what + ": its " + std::to_string(f.test.classes.size()) +
                                  " classes differ from the " +
                                  std::to_string(f.train.classes.size()) + " of " + dir + "/train");
  }
  return f;
}

}  // namespace popup
