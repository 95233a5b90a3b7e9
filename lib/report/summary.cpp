// Text tables for popup-init --summary and --list.
#include "report/summary.hpp"

#include <cstdarg>
#include <cstdio>

namespace popup {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
  return s;
}

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

std::string bytes_text(double bytes) {
  if (bytes < 1024) return format("%.0f B", bytes);
  if (bytes < 1024 * 1024) return format("%.1f KiB", bytes / 1024);
  if (bytes < 1024.0 * 1024 * 1024) return format("%.1f MiB", bytes / (1024 * 1024));
  return format("%.2f GiB", bytes / (1024.0 * 1024 * 1024));
}

}  // namespace

std::string thousands(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string recipe_summary(const Recipe& r) {
  const std::vector<TensorSpec> tensors = recipe_tensors(r);
  std::string out = format("%s on %s, %lld classes; %s, seed %llu", r.arch.c_str(),
                           input_shape_format(r.input).c_str(), static_cast<long long>(r.classes),
                           init_name(r.init).c_str(), static_cast<unsigned long long>(r.seed));
  out += r.scale_k == 1.0 ? "\n" : ", scaled by k = " + double_format(r.scale_k) + "\n";
  const char* std_label = r.init == InitKind::kaiming_uniform ? "bound" : "std";
  out += format("%-28s %-16s %8s %12s  %s\n", "tensor", "shape", "fan_in", "weights", std_label);
  int64_t total = 0, mask_bytes = 0;
  for (const TensorSpec& t : tensors) {
    out += format("%-28s %-16s %8lld %12s  %.6g\n", t.name.c_str(), shape_text(t.shape).c_str(),
                  static_cast<long long>(t.fan_in), thousands(t.numel()).c_str(),
                  init_std(r.init, t, r.scale_k));
    total += t.numel();
    mask_bytes += (t.numel() + 7) / 8;
  }
  out +=
      format("%-28s %-16s %8s %12s\n", "total",
             (std::to_string(tensors.size()) + " tensors").c_str(), "", thousands(total).c_str());
  out += "data: weights " + bytes_text(4.0 * total) + " (F32), mask " +
         bytes_text(static_cast<double>(mask_bytes)) + " (1 bit per weight)\n";
  return out;
}

std::string catalogue_text() {
  std::string out = "architectures (spec[:width=W] where supported):\n";
  for (const ArchInfo& a : arch_list())
    out += format("  %-15s %s\n", a.name.c_str(), a.description.c_str());
  out += "distributions (--init):\n";
  for (const std::string& name : init_names()) out += "  " + name + "\n";
  out +=
      "data sets (--data): fashion-mnist (default), mnist, cifar10, cifar100, images:DIR, "
      "imagenet:DIR (with --image-size S)\n";
  return out;
}

}  // namespace popup
