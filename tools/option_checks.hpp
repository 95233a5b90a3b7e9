// Checks of the tools' number options, stricter than CLI11's own: CLI11 2.1's Range lets NaN
// through and clamps or misreads an integer too large for its type.
#pragma once

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace popup_tool {

// A number option's check (CLI11's Range and PositiveNumber let NaN through, and an integer
// too large for its type is clamped or misread): a finite number in [lo, hi], or in (lo, hi]
// with `above_lo`. A refusal is a usage error: "--lr: must be a finite number above 0, got 'inf'".
inline CLI::Validator finite_in(double lo, double hi, bool above_lo = false) {
  const auto bound = [](double v) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", v);
    return std::string(text);
  };
  const bool low = above_lo || lo > -HUGE_VAL, high = hi < HUGE_VAL;
  std::string range = "a finite number";
  if (above_lo) range += " above " + bound(lo);
  if (!above_lo && low) range += (high ? " from " : " of at least ") + bound(lo);
  if (high) range += (low ? " to " : " of at most ") + bound(hi);
  return CLI::Validator(
      [=](std::string& text) {
        char* end = nullptr;
        errno = 0;
        const double v = std::strtod(text.c_str(), &end);
        const bool number = !text.empty() && end == text.c_str() + text.size() && errno == 0;
        if (number && std::isfinite(v) && (above_lo ? v > lo : v >= lo) && v <= hi)
          return std::string();
        return "must be " + range + ", got '" + text + "'";
      },
      range);
}

// An integer option's check: decimal digits (a leading - allowed) whose value is in [lo, hi].
inline CLI::Validator integer_in(int64_t lo, int64_t hi) {
  const std::string range = "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
  return CLI::Validator(
      [=](std::string& text) {
        const size_t digits = text.find_first_not_of('-') == 1 ? 1 : 0;
        const bool shape = !text.empty() && text.size() - digits <= 18 &&
                           text.find_first_not_of("0123456789", digits) == std::string::npos &&
                           text.size() > digits;
        if (shape) {
          const long long v = std::strtoll(text.c_str(), nullptr, 10);
          if (v >= lo && v <= hi) return std::string();
        }
        return "must be " + range + ", got '" + text + "'";
      },
      range);
}

}  // namespace popup_tool
