// What popup-train tells the user while it runs: a live progress bar on a terminal, one line
// per epoch otherwise (stderr), and the JSON Lines log (--log FILE, one object per epoch).
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "format/output_file.hpp"
#include "train/trainer.hpp"

namespace popup {

class ProgressPrinter {
 public:
  // live: redraw a bar on `out` (a terminal) at most ~10 times a second.
  ProgressPrinter(std::FILE* out, bool live) : out_(out), live_(live) {}
  void step(const StepReport& s);
  void epoch(const EpochReport& e);

 private:
  std::FILE* out_;
  bool live_;
  double last_draw_ = -1;
};

// One JSON object per epoch, appended and flushed as each epoch ends (resumed runs append).
class JsonLog {
 public:
  explicit JsonLog(const std::string& path);  // throws IoError
  ~JsonLog();
  void epoch(const EpochReport& e);

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// One log line, without its newline: numbers with 6 significant digits; one that is not
// finite (a test loss of NaN once the weights overflowed) is null and named in the member
// "non_finite":{"test_loss":"nan"} (JsonWriter::non_finite_member).
std::string epoch_json(const EpochReport& e);

}  // namespace popup
