// Developer tool (not installed, not in make check): popup's decoded pixels and image
// transforms written to files, for scripts/pil-compare.py, and the speed of
// image_prepare_train. Built by `make image-dump` into BUILD/tests/image-dump.
//   image-dump decode FILE OUT                       RGB bytes [h, w, 3]; prints "h w"
//   image-dump eval FILE SIZE RESIZE MODE OUT        float32 [3, S, S]
//   image-dump crop FILE SIZE TOP LEFT H W MODE OUT  float32 [3, S, S], no flip
//   image-dump train FILE SIZE SEED EPOCH EXAMPLE MODE OUT   prints "top left h w flip"
//   image-dump speed SIZE MODE SECONDS FILE...       image_prepare_train images/s, one thread
//                                                    (wall clock and CPU time)
// MODE: "scaled" (scaled and crop decoding), "crop" (crop decoding only), "full" (neither).
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "data/data_random.hpp"
#include "data/image_decode.hpp"
#include "data/image_prepare.hpp"
#include "error.hpp"

namespace {

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw popup::IoError(path, "cannot open");
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void file_write(const std::string& path, const void* data, size_t bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
  if (!out) throw popup::IoError(path, "cannot write");
}

popup::ImageTransform transform(const std::string& size, const std::string& mode) {
  popup::ImageTransform t;
  t.size = std::stoll(size);
  t.resize = (t.size * 256 + 112) / 224;
  t.scaled_decode = t.scaled_decode_eval = mode == "scaled";
  t.crop_decode = mode != "full";
  if (mode != "scaled" && mode != "crop" && mode != "full")
    throw popup::InvalidArgument("", "mode " + mode + ": scaled, crop or full");
  return t;
}

int run(const std::vector<std::string>& a) {
  popup::ImageScratch scratch;
  if (a.size() == 3 && a[0] == "decode") {
    const std::vector<uint8_t> bytes = file_bytes(a[1]);
    const popup::RgbImage image = popup::image_decode(bytes.data(), bytes.size(), a[1]);
    file_write(a[2], image.pixels.data(), image.pixels.size());
    std::cout << image.height << " " << image.width << "\n";
    return 0;
  }
  if (a.size() == 6 && a[0] == "eval") {
    popup::ImageTransform t = transform(a[2], a[4]);
    t.resize = std::stoll(a[3]);
    const std::vector<uint8_t> bytes = file_bytes(a[1]);
    std::vector<float> out(static_cast<size_t>(3 * t.size * t.size));
    popup::image_prepare_eval(bytes.data(), bytes.size(), a[1], t, scratch, out.data());
    file_write(a[5], out.data(), out.size() * sizeof(float));
    return 0;
  }
  if (a.size() == 9 && a[0] == "crop") {
    const popup::ImageTransform t = transform(a[2], a[7]);
    const std::vector<uint8_t> bytes = file_bytes(a[1]);
    popup::ImageCropDraw crop;
    crop.top = std::stoll(a[3]);
    crop.left = std::stoll(a[4]);
    crop.height = std::stoll(a[5]);
    crop.width = std::stoll(a[6]);
    popup::ImageDecoder decoder(bytes.data(), bytes.size(), a[1]);
    std::vector<float> out(static_cast<size_t>(3 * t.size * t.size));
    popup::image_prepare_crop(decoder, t, crop, scratch, out.data());
    file_write(a[8], out.data(), out.size() * sizeof(float));
    return 0;
  }
  if (a.size() == 8 && a[0] == "train") {
    const popup::ImageTransform t = transform(a[2], a[6]);
    const std::vector<uint8_t> bytes = file_bytes(a[1]);
    const uint64_t seed = std::stoull(a[3]);
    const int64_t epoch = std::stoll(a[4]), example = std::stoll(a[5]);
    std::vector<float> out(static_cast<size_t>(3 * t.size * t.size));
    popup::image_prepare_train(bytes.data(), bytes.size(), a[1], t, seed, epoch, example, scratch,
                               out.data());
    const popup::ImageDecoder decoder(bytes.data(), bytes.size(), a[1]);
    const popup::ImageCropDraw d =
        popup::image_crop_draw(seed, epoch, example, decoder.height(), decoder.width());
    std::cout << d.top << " " << d.left << " " << d.height << " " << d.width << " " << d.flip
              << "\n";
    file_write(a[7], out.data(), out.size() * sizeof(float));
    return 0;
  }
  if (a.size() >= 5 && a[0] == "speed") {
    const popup::ImageTransform t = transform(a[1], a[2]);
    const double seconds = std::stod(a[3]);
    std::vector<std::vector<uint8_t>> files;
    for (size_t i = 4; i < a.size(); ++i) files.push_back(file_bytes(a[i]));
    std::vector<float> out(static_cast<size_t>(3 * t.size * t.size));
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();
    int64_t done = 0;
    double elapsed = 0;
    while (elapsed < seconds) {
      for (const std::vector<uint8_t>& f : files)
        popup::image_prepare_train(f.data(), f.size(), "image", t, 1, 0, done++, scratch,
                                   out.data());
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    const double cpu = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    std::printf("%s: %lld images in %.2f s (%.2f s of CPU): %.1f images/s, %.1f per CPU second\n",
                a[2].c_str(), static_cast<long long>(done), elapsed, cpu,
                static_cast<double>(done) / elapsed, static_cast<double>(done) / cpu);
    return 0;
  }
  std::cerr << "image-dump: usage: see the comment at the top of tests/tools/image-dump.cpp\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "image-dump: error: " << e.what() << "\n";
    return 1;
  }
}
