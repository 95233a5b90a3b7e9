// Strict conversions between numbers and the text of metadata values and options: the whole
// text must be the number (no spaces, signs on unsigned values, hex or trailing characters).
#pragma once

#include <cstdint>
#include <string>

namespace popup {

bool uint_parse(const std::string& text, uint64_t& value);
bool double_parse(const std::string& text, double& value);

// Shortest decimal text that reads back as the same double ("0.5", "2", "0.30000000000000004").
std::string double_format(double value);

}  // namespace popup
