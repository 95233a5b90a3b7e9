// popup-bench --loader: images/s of the streamed training pipeline alone (loader_bench.hpp).
#include "loader_bench.hpp"

#include <chrono>
#include <cmath>
#include <string>

#include "data/dataset.hpp"
#include "error.hpp"
#include "format/json_write.hpp"

namespace popup_bench {

double loader_bench(const LoaderOptions& o, std::FILE* json) {
  using Clock = std::chrono::steady_clock;
  popup::DatasetOptions options;
  options.workers = o.workers;
  options.image_size = o.size;
  options.seed = o.seed;
  int64_t bad = 0;
  options.warn = [&](const std::string& line) {
    ++bad;
    std::fprintf(stderr, "popup-bench: %s\n", line.c_str());
  };
  const Clock::time_point t_scan = Clock::now();
  popup::Dataset data = popup::dataset_load(o.data, options);
  if (o.full_decode) data.train.transform.scaled_decode = false;
  const double scan = std::chrono::duration<double>(Clock::now() - t_scan).count();
  if (!data.train.streamed())
    throw popup::InvalidArgument("--loader", o.data +
                                                 " is not a streamed image-folder data set "
                                                 "(images:DIR or imagenet:DIR)");
  // One epoch: shuffled and augmented as popup-train's training split.
  const Clock::time_point t0 = Clock::now();
  popup::BatchLoader loader(data.train, o.batch, true, true, o.seed, 0);
  popup::Batch b;
  int64_t images = 0;
  double checksum = 0;  // read every batch's first value, so that nothing is skipped unseen
  while ((o.images == 0 || images < o.images) && loader.next(b)) {
    images += b.n;
    if (b.n > 0) checksum += static_cast<double>(b.images[0]);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double rate = static_cast<double>(images) / seconds;
  std::printf(
      "loader %s: %lld images, %d workers, batch %lld, %lldx%lld%s: %.2f s, %.1f images/s "
      "(folder scan %.2f s, not counted; %lld unreadable; checksum %.3f)\n",
      o.data.c_str(), static_cast<long long>(images), o.workers, static_cast<long long>(o.batch),
      static_cast<long long>(o.size), static_cast<long long>(o.size),
      o.full_decode ? ", full-size decoding" : "", seconds, rate, scan, static_cast<long long>(bad),
      std::isfinite(checksum) ? checksum : 0.0);
  if (json) {
    popup::JsonWriter j;
    j.object_begin().key("loader").string(o.data).key("workers").integer(o.workers);
    j.key("batch").integer(o.batch).key("size").integer(o.size).key("images").integer(images);
    j.key("full_decode").boolean(o.full_decode);
    j.key("seconds").number(seconds).key("images_per_second").number(rate);
    j.key("scan_seconds").number(scan).key("unreadable").integer(bad);
    std::fputs((j.object_end().text() + "\n").c_str(), json);
  }
  return rate;
}

}  // namespace popup_bench
