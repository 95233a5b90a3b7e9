// The error of a bad combination of options, found by a tool after parsing (exit status 2).
#pragma once

#include <stdexcept>

namespace popup_tool {

class UsageError : public std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace popup_tool
