// Starting a data-parallel run (DESIGN.md §8): a process started by mpirun (Open MPI) or by
// Slurm's srun with more than one rank joins its ranks through libpopup-mpi.so, loaded with
// dlopen, so the tools link no MPI library and run unchanged as one process otherwise.
#pragma once

#include <memory>
#include <string>

#include "dist/communicator.hpp"

namespace popup {

// The number of ranks the launcher's environment announces (OMPI_COMM_WORLD_SIZE from Open
// MPI's mpirun, PMI_SIZE from MPICH's mpiexec and srun --mpi=pmi2, SLURM_STEP_NUM_TASKS from
// srun; not SLURM_NTASKS, which sbatch and salloc also set in the job's one shell), 1 when none.
int launcher_ranks();

// Where the plugin is looked for: $POPUP_MPI_PLUGIN, else lib/popup/libpopup-mpi.so beside
// the executable's folder (backend/plugin_path.hpp, as the CUDA plugin).
std::string mpi_plugin_path();

// Null when launcher_ranks() is 1. Otherwise the communicator of this process's ranks
// (MPI_Init happens here; the communicator's destruction finalises). Throws popup::Error
// saying why when the plugin is missing (a build without MPI), cannot start, or MPI joins
// fewer ranks than the launcher announced (e.g. srun without PMIx).
std::unique_ptr<Communicator> communicator_from_launcher();

// The MPI plugin's entry points, resolved with dlsym. The version changes whenever
// Communicator changes layout.
constexpr int kMpiPluginAbi = 1;
extern "C" {
using MpiPluginAbi = int();
using MpiPluginCreate = Communicator*(char* error, size_t error_size);
}

}  // namespace popup
