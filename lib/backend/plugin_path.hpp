// Where the tools find their plugins (the CUDA backend, the MPI communicator): the file an
// environment variable names, else lib/popup/<file> beside the executable's folder, so that
// the build tree and an installed prefix have the same layout.
#pragma once

#include <string>

namespace popup {

// $env_variable when set and not empty, else <executable's folder>/../lib/popup/<file>.
std::string plugin_path(const char* env_variable, const std::string& file);

}  // namespace popup
