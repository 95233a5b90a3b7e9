// popup-stats' three renderings of one StatsReport: an aligned text table, one JSON document
// and CSV. All three carry the same numbers (the table rounded for reading; JSON and CSV as the
// shortest text that reads back as the same double). man popup-stats describes every field.
#pragma once

#include <string>

#include "report/mask_stats.hpp"

namespace popup {

std::string stats_table(const StatsReport& report);
std::string stats_json(const StatsReport& report);
std::string stats_csv(const StatsReport& report);

// The CSV header row (without the newline), for tests and documentation.
std::string stats_csv_header();

}  // namespace popup
