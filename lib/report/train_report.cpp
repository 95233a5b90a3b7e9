// Progress bar, per-epoch lines and the JSON Lines log of popup-train.
#include "report/train_report.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>

#include "error.hpp"
#include "format/json.hpp"

namespace popup {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string json_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

void ProgressPrinter::step(const StepReport& s) {
  if (!live_) return;
  const double now = now_seconds();
  if (s.batch != s.batches && now - last_draw_ < 0.1) return;
  last_draw_ = now;
  const int width = 24;
  const int filled = static_cast<int>(width * s.batch / s.batches);
  // Seconds left in this epoch, from the mean time per batch so far.
  const double per_batch = s.images_per_second > 0 ? s.batch_seconds : 0;
  const double eta = per_batch * static_cast<double>(s.batches - s.batch);
  std::fprintf(out_,
               "\r\033[Kepoch %lld [%.*s%*s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s eta %.0f s",
               static_cast<long long>(s.epoch), filled, "########################",
               width - filled, "", static_cast<long long>(s.batch),
               static_cast<long long>(s.batches), s.loss, 100 * s.acc, s.images_per_second, eta);
  std::fflush(out_);
}

void ProgressPrinter::epoch(const EpochReport& e) {
  if (live_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "epoch %lld/%lld  lr %.4g  loss %.4f  train %.2f%%", static_cast<long long>(e.epoch),
               static_cast<long long>(e.epochs), e.lr, e.train_loss, 100 * e.train_acc);
  if (e.val_acc >= 0) std::fprintf(out_, "  val %.2f%%", 100 * e.val_acc);
  std::fprintf(out_, "  test %.2f%%  %.0f img/s  %.1f s\n", 100 * e.test_acc, e.images_per_second,
               e.seconds);
  std::fflush(out_);
}

std::string epoch_json(const EpochReport& e) {
  std::string s = "{\"epoch\":" + std::to_string(e.epoch) + ",\"epochs\":" + std::to_string(e.epochs) +
                  ",\"lr\":" + json_number(e.lr) + ",\"train_loss\":" + json_number(e.train_loss) +
                  ",\"train_acc\":" + json_number(e.train_acc);
  if (e.val_acc >= 0) s += ",\"val_acc\":" + json_number(e.val_acc);
  s += ",\"test_loss\":" + json_number(e.test_loss) + ",\"test_acc\":" + json_number(e.test_acc) +
       ",\"images_per_second\":" + json_number(e.images_per_second) +
       ",\"seconds\":" + json_number(e.seconds) + ",\"device\":" + json_quote(e.device) + "}";
  return s;
}

JsonLog::JsonLog(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw IoError(path, std::string("cannot open: ") + std::strerror(errno));
}

JsonLog::~JsonLog() {
  if (file_) std::fclose(file_);
}

void JsonLog::epoch(const EpochReport& e) {
  const std::string line = epoch_json(e) + "\n";
  if (std::fputs(line.c_str(), file_) == EOF || std::fflush(file_) != 0)
    throw IoError(path_, std::string("write error: ") + std::strerror(errno));
}

}  // namespace popup
