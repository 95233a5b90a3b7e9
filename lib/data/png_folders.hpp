// Data sets stored as folders of PNG images: DIR/train/<class>/*.png and DIR/test/<class>/*.png
// (DIR/val/ when DIR/test/ is absent).
#pragma once

#include <string>

#include "data/raw_split.hpp"

namespace popup {

// Classes are the sub-folders of train/ (names starting with '.' ignored), numbered in byte
// order of their names; test/ must have the same ones. Files ending in .png (any case) are the
// examples, in byte order of their names within a class. Every image must have the size of the
// first training image, checked from its header before it is decoded (png_decode's limits apply).
// The data set has 1 channel when every image is grey (with or without alpha), 3 otherwise, grey
// images then repeated into R, G and B; alpha is dropped and 16-bit samples are scaled to 8 bits
// (png_decode). Throws IoError (missing folder, unreadable or not a regular file, a class folder
// that is a link loop), FormatError (bad PNG, image of another size, no class folders, empty set),
// MismatchError (train and test classes differ).
RawDataset png_folders_read(const std::string& dir);

}  // namespace popup
