// Joining the ranks a launcher started: its environment says how many there are, and
// libpopup-mpi.so (loaded with dlopen, as the CUDA plugin) makes the communicator, so that the
// tools link no MPI library and a build without MPI still runs one process.
#include "dist/launch.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include "backend/plugin_path.hpp"
#include "error.hpp"
#include "format/number_text.hpp"

namespace popup {
namespace {

// The variables launchers set in each process they start, with the number of processes:
// Open MPI's mpirun; MPICH's mpiexec and Slurm's srun --mpi=pmi2 (PMI-1/2); Slurm's srun
// (every plugin, pmix included). SLURM_NTASKS is no sign: sbatch and salloc set it in the
// one shell that runs the job script. A shell started by srun passes SLURM_STEP_NUM_TASKS on
// to what it runs: then MPI joins fewer ranks than announced, which communicator_from_launcher
// reports.
struct LauncherVariable {
  const char* name;
  const char* launcher;
};
constexpr LauncherVariable kLauncherVariables[] = {
    {"OMPI_COMM_WORLD_SIZE", "mpirun"},
    {"PMI_SIZE", "the PMI launcher"},
    {"SLURM_STEP_NUM_TASKS", "srun"},
};

// The first launcher variable set to a number of ranks, or null.
const LauncherVariable* launcher_variable(int& ranks) {
  for (const LauncherVariable& v : kLauncherVariables) {
    const char* text = std::getenv(v.name);
    uint64_t n = 0;
    if (text && uint_parse(text, n) && n >= 1 && n <= INT_MAX) {
      ranks = static_cast<int>(n);
      return &v;
    }
  }
  ranks = 1;
  return nullptr;
}

}  // namespace

int launcher_ranks() {
  int ranks = 1;
  launcher_variable(ranks);
  return ranks;
}

std::string mpi_plugin_path() { return plugin_path("POPUP_MPI_PLUGIN", "libpopup-mpi.so"); }

std::unique_ptr<Communicator> communicator_from_launcher() {
  int ranks = 1;
  const LauncherVariable* variable = launcher_variable(ranks);
  if (ranks == 1) return nullptr;
  const std::string started = "the " + std::to_string(ranks) + " processes " + variable->launcher +
                              " started (" + variable->name + "=" + std::to_string(ranks) + ")";
  const std::string path = mpi_plugin_path();
  const char* env = std::getenv("POPUP_MPI_PLUGIN");
  if (access(path.c_str(), F_OK) != 0) {
    if (env && *env)
      throw Error(path,
                  "not found ($POPUP_MPI_PLUGIN names the MPI plugin), needed to join " + started);
    throw Error(path,
                "not found: popup was built without MPI (libopenmpi-dev was not found "
                "when it was built), so it cannot join " +
                    started + "; install libopenmpi-dev and rebuild, or run one process");
  }
  // The plugin stays loaded for the life of the process: its code runs the communicator.
  void* plugin = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!plugin) {
    const char* why = dlerror();
    throw Error(path, std::string("cannot load the MPI plugin: ") + (why ? why : "dlopen failed"));
  }
  auto* abi = reinterpret_cast<MpiPluginAbi*>(dlsym(plugin, "popup_mpi_plugin_abi"));
  auto* create = reinterpret_cast<MpiPluginCreate*>(dlsym(plugin, "popup_mpi_plugin_create"));
  if (!abi || !create) throw Error(path, "is not a popup MPI plugin (entry points missing)");
  if (abi() != kMpiPluginAbi)
    throw Error(path, "was built for another version of popup (interface " + std::to_string(abi()) +
                          ", this build has " + std::to_string(kMpiPluginAbi) + "); rebuild it");
  char error[512] = "";
  std::unique_ptr<Communicator> comm(create(error, sizeof error));
  if (!comm) throw Error("", std::string("MPI plugin: ") + error);
  if (comm->size() != ranks)
    throw Error("", "MPI joined " + std::to_string(comm->size()) + " of " + started +
                        (comm->size() == 1 ? " (each process alone)" : "") +
                        ": start them with Open MPI's mpirun, or with srun --mpi=pmix where "
                        "Slurm has PMIx");
  return comm;
}

}  // namespace popup
