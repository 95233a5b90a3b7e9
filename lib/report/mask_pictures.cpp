// The --png pictures of popup-stats (man popup-stats): each layer's kept set at one pixel per
// weight (convolutions as a grid of per-output-channel tiles), scaled to a readable size, and
// the file names they are written under.
#include "report/mask_pictures.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <system_error>

#include "error.hpp"
#include "format/output_file.hpp"

namespace popup {
namespace {

constexpr int64_t kPictureMinWidth = 256;
constexpr int64_t kPictureMinHeight = 64;
constexpr int64_t kPictureTallWidthMax = 1024;
constexpr int64_t kConvPixels = 3, kConvSideMax = 2048;
constexpr int64_t kPictureMaxSide = 8192;
// Grey lines: between the tiles of output channels, lighter between input channels' kernels.
constexpr uint8_t kKept = 255, kDropped = 0, kTileLine = 96, kChannelLine = 176;

// Picks the number of tile columns that makes the picture closest to square.
int64_t grid_columns(int64_t tiles, int64_t tile_w, int64_t tile_h) {
  int64_t best = 1;
  double best_score = std::numeric_limits<double>::infinity();
  for (int64_t c = 1; c <= tiles; ++c) {
    const int64_t r = (tiles + c - 1) / c;
    if (c > 1 && (r - 1) * c >= tiles) continue;  // same rows as fewer columns: an empty column
    const double w = static_cast<double>(c * (tile_w + 1) - 1);
    const double h = static_cast<double>(r * (tile_h + 1) - 1);
    const double score = std::fabs(std::log(w / h));
    if (score < best_score) {
      best = c;
      best_score = score;
    }
  }
  return best;
}

// The picture at one pixel per weight: linear layers (and 1x1 convolutions) as out x in; other
// convolutions as one tile per output channel, kh rows by the input channels' kw columns side
// by side, separated by grey lines, the tiles in a near-square grid.
GreyImage mask_canvas(const LayerMask& layer) {
  const std::vector<int64_t>& s = layer.shape;
  GreyImage img;
  const bool conv = s.size() == 4 && !(s[2] == 1 && s[3] == 1);
  if (!conv) {
    const int64_t out = s.empty() ? 1 : s[0];
    const int64_t in = s.empty() ? 1 : layer.numel() / std::max<int64_t>(out, 1);
    img.width = in;
    img.height = out;
    img.pixels.resize(static_cast<size_t>(in * out));
    for (int64_t i = 0; i < in * out; ++i)
      img.pixels[static_cast<size_t>(i)] = layer.get(i) ? kKept : kDropped;
    return img;
  }
  const int64_t out = s[0], in = s[1], kh = s[2], kw = s[3];
  const int64_t tile_w = in * (kw + 1) - 1, tile_h = kh;
  const int64_t cols = grid_columns(out, tile_w, tile_h);
  const int64_t rows = (out + cols - 1) / cols;
  img.width = cols * (tile_w + 1) - 1;
  img.height = rows * (tile_h + 1) - 1;
  img.pixels.assign(static_cast<size_t>(img.width * img.height), kTileLine);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t x0 = (o % cols) * (tile_w + 1), y0 = (o / cols) * (tile_h + 1);
    for (int64_t c = 1; c < in; ++c)
      for (int64_t y = 0; y < kh; ++y)
        img.pixels[static_cast<size_t>((y0 + y) * img.width + x0 + c * (kw + 1) - 1)] =
            kChannelLine;
    for (int64_t c = 0; c < in; ++c)
      for (int64_t y = 0; y < kh; ++y)
        for (int64_t x = 0; x < kw; ++x) {
          const int64_t i = ((o * in + c) * kh + y) * kw + x;
          const int64_t px = x0 + c * (kw + 1) + x, py = y0 + y;
          img.pixels[static_cast<size_t>(py * img.width + px)] = layer.get(i) ? kKept : kDropped;
        }
  }
  return img;
}

// Nearest-neighbour enlargement by an integer factor.
GreyImage enlarged(const GreyImage& src, int64_t f) {
  GreyImage img;
  img.width = src.width * f;
  img.height = src.height * f;
  img.pixels.resize(static_cast<size_t>(img.width * img.height));
  for (int64_t y = 0; y < img.height; ++y)
    for (int64_t x = 0; x < img.width; ++x)
      img.pixels[static_cast<size_t>(y * img.width + x)] =
          src.pixels[static_cast<size_t>((y / f) * src.width + x / f)];
  return img;
}

// Reduction by an integer factor: each pixel the mean of its f x f block (at the right and
// bottom edges, of the part of the block inside the picture).
GreyImage reduced(const GreyImage& src, int64_t f) {
  GreyImage img;
  img.width = (src.width + f - 1) / f;
  img.height = (src.height + f - 1) / f;
  std::vector<uint64_t> sum(static_cast<size_t>(img.width * img.height), 0);
  std::vector<uint32_t> count(sum.size(), 0);
  for (int64_t y = 0; y < src.height; ++y)
    for (int64_t x = 0; x < src.width; ++x) {
      const size_t j = static_cast<size_t>((y / f) * img.width + x / f);
      sum[j] += src.pixels[static_cast<size_t>(y * src.width + x)];
      ++count[j];
    }
  img.pixels.resize(sum.size());
  for (size_t j = 0; j < sum.size(); ++j)
    img.pixels[j] = static_cast<uint8_t>((sum[j] + count[j] / 2) / count[j]);
  return img;
}

std::string file_stem(const std::string& path) {
  if (is_std_stream(path)) return "stdin";
  std::string base = std::filesystem::path(path).filename().string();
  const size_t dot = base.rfind('.');
  if (dot != std::string::npos && dot > 0) base.resize(dot);
  return base.empty() ? "stdin" : base;
}

}  // namespace

GreyImage mask_image(const LayerMask& layer) {
  GreyImage img = mask_canvas(layer);
  const int64_t side = std::max(img.width, img.height);
  if (side > kPictureMaxSide) return reduced(img, (side + kPictureMaxSide - 1) / kPictureMaxSide);
  // At least 256 pixels wide; at least 64 high unless that takes it past 1024 wide.
  const int64_t want = std::max((kPictureMinWidth + img.width - 1) / img.width,
                                std::min((kPictureMinHeight + img.height - 1) / img.height,
                                         kPictureTallWidthMax / img.width));
  // Convolutions: at least 3 pixels per weight while that stays within 2048 pixels, so that
  // the kernels and the grey lines between them can be told apart.
  const bool conv = layer.shape.size() == 4 && !(layer.shape[2] == 1 && layer.shape[3] == 1);
  const int64_t f =
      std::min(conv ? std::max(want, std::min<int64_t>(kConvPixels, kConvSideMax / side)) : want,
               kPictureMaxSide / side);
  return f > 1 ? enlarged(img, f) : img;
}

std::string mask_png_prefix(const std::string& dir, const std::string& path) {
  return (std::filesystem::path(dir) / (file_stem(path) + ".")).string();
}

std::string mask_png_path(const std::string& dir, const std::string& path,
                          const std::string& layer) {
  std::string name = layer;
  const std::string suffix = ".weight";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    name.resize(name.size() - suffix.size());
  return mask_png_prefix(dir, path) + name + ".png";
}

void mask_pngs_write(const std::string& dir, const std::vector<StatsInput>& inputs) {
  std::map<std::string, std::string> owner;  // picture -> the input it shows
  for (const StatsInput& in : inputs)
    for (const LayerMask& layer : in.layers) {
      const std::string png = mask_png_path(dir, in.path, layer.name);
      const auto [it, fresh] = owner.emplace(png, in.path);
      if (!fresh)
        throw InvalidArgument(in.path, "its picture " + png + " would replace that of " +
                                           it->second + " (give files different names)");
    }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError(dir, "cannot create the directory: " + ec.message());
  if (!std::filesystem::is_directory(dir)) throw IoError(dir, "not a directory");
  for (const StatsInput& in : inputs)
    for (const LayerMask& layer : in.layers)
      png_write_grey(mask_png_path(dir, in.path, layer.name), mask_image(layer));
}

}  // namespace popup
