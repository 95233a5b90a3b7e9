// Typed errors thrown by libpopup. The library never exits; tools turn these into
// one-line messages ("popup-init: error: <file>: <what>") and exit codes (1 runtime, 2 usage).
#pragma once

#include <stdexcept>
#include <string>

namespace popup {

// Base of every error the library throws. `file` names the file concerned ("" when none,
// "-" for stdin/stdout); what() returns "<file>: <message>" or just the message.
class Error : public std::runtime_error {
 public:
  Error(const std::string& file, const std::string& message)
      : std::runtime_error(file.empty() ? message : file + ": " + message),
        file_(file),
        message_(message) {}
  const std::string& file() const { return file_; }
  const std::string& message() const { return message_; }

 private:
  std::string file_;
  std::string message_;
};

// Opening, reading or writing failed (missing file, permission, disk full, short read).
class IoError : public Error {
  using Error::Error;
};

// A file is malformed or corrupt: bad header, truncated data, CRC mismatch, wrong kind.
class FormatError : public Error {
  using Error::Error;
};

// A file was written by a newer popup (its popup.version is above what this build reads).
class VersionError : public FormatError {
  using FormatError::FormatError;
};

// Two inputs disagree: a mask whose recipe or shapes do not match the weights, data whose
// shape does not match the recipe.
class MismatchError : public Error {
  using Error::Error;
};

// A value is out of range or unknown (architecture, distribution, k, input shape).
// When the value came from the command line, tools report it as a usage error (exit 2).
class InvalidArgument : public Error {
  using Error::Error;
};

// Training diverged: the loss became NaN or infinite.
class DivergenceError : public Error {
  using Error::Error;
};

}  // namespace popup
