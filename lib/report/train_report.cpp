// Progress bar, per-epoch lines and the JSON Lines log of popup-train.
#include "report/train_report.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>

#include "error.hpp"
#include "format/json_write.hpp"

namespace popup {
namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
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
  // "data": the share of the step spent waiting for the data pipeline's batches
  std::fprintf(out_,
               "\r\033[Kepoch %lld [%.*s%*s] %lld/%lld loss %.4f acc %.2f%% %.0f img/s data %.0f%% "
               "eta %.0f s",
               static_cast<long long>(s.epoch), filled, "########################", width - filled,
               "", static_cast<long long>(s.batch), static_cast<long long>(s.batches), s.loss,
               100 * s.acc, s.images_per_second, 100 * s.data_share, eta);
  std::fflush(out_);
}

void ProgressPrinter::epoch(const EpochReport& e) {
  if (live_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "epoch %lld/%lld  lr %.4g  loss %.4f  train %.2f%%",
               static_cast<long long>(e.epoch), static_cast<long long>(e.epochs), e.lr,
               e.train_loss, 100 * e.train_acc);
  if (e.val_acc >= 0) std::fprintf(out_, "  val %.2f%%", 100 * e.val_acc);
  std::fprintf(out_, "  test %.2f%%  %.0f img/s  %.1f s", 100 * e.test_acc, e.images_per_second,
               e.seconds);
  if (e.kept_redrawn >= 0)
    std::fprintf(out_, "  %lld kept redrawn", static_cast<long long>(e.kept_redrawn));
  if (e.ranks > 1)
    std::fprintf(out_, "  %lld ranks, sums %.1f ms/step (%.2f MB)", static_cast<long long>(e.ranks),
                 1e3 * e.reduce_seconds, e.reduce_bytes / 1e6);
  std::fputc('\n', out_);
  std::fflush(out_);
}

std::string epoch_json(const EpochReport& e) {
  const int digits = 6;  // the log's numbers: 6 significant digits
  JsonWriter w;
  w.object_begin().key("epoch").integer(e.epoch).key("epochs").integer(e.epochs);
  w.key("lr").number(e.lr, digits).key("train_loss").number(e.train_loss, digits);
  w.key("train_acc").number(e.train_acc, digits);
  if (e.val_acc >= 0) w.key("val_acc").number(e.val_acc, digits);
  w.key("test_loss").number(e.test_loss, digits).key("test_acc").number(e.test_acc, digits);
  w.key("images_per_second").number(e.images_per_second, digits);
  w.key("data_share").number(e.data_share, digits);
  w.key("seconds").number(e.seconds, digits).key("device").string(e.device);
  if (e.kept_redrawn >= 0) w.key("kept_redrawn").integer(e.kept_redrawn);
  if (e.ranks > 1) {  // data-parallel: per training step, this rank's
    w.key("ranks").integer(e.ranks).key("reduce_seconds").number(e.reduce_seconds, digits);
    w.key("reduce_bytes").number(e.reduce_bytes, digits);
  }
  return w.non_finite_member().object_end().text();
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
