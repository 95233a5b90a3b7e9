// The entry points of libpopup-mpi.so, found by lib/dist/launch.cpp with dlsym. Only these two
// symbols are exported (lib/mpi/plugin.map); errors while starting come back as text.
#include <cstdio>
#include <exception>
#include <type_traits>

#include "dist/launch.hpp"
#include "mpi/communicator_mpi.hpp"

extern "C" int popup_mpi_plugin_abi() { return popup::kMpiPluginAbi; }

extern "C" popup::Communicator* popup_mpi_plugin_create(char* error, size_t error_size) {
  try {
    return popup::communicator_mpi_create().release();
  } catch (const std::exception& e) {
    std::snprintf(error, error_size, "%s", e.what());
  } catch (...) {
    std::snprintf(error, error_size, "unknown error while starting");
  }
  return nullptr;
}

// The plugin's own types must match the caller's: checked at compile time here.
static_assert(std::is_same_v<decltype(&popup_mpi_plugin_abi), popup::MpiPluginAbi*>);
static_assert(std::is_same_v<decltype(&popup_mpi_plugin_create), popup::MpiPluginCreate*>);
