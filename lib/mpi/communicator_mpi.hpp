// The Communicator over Open MPI (DESIGN.md §8), the body of libpopup-mpi.so: the only code of
// popup that includes mpi.h. lib/dist/launch.cpp loads it with dlopen under mpirun or srun.
#pragma once

#include <memory>

#include "dist/communicator.hpp"

namespace popup {

// Initialises MPI (MPI_THREAD_FUNNELED: only the thread that made it calls it) unless the
// process already did, and joins MPI_COMM_WORLD's ranks; destroying it finalises MPI (when it
// initialised it). Throws popup::Error with MPI's text when MPI cannot start.
std::unique_ptr<Communicator> communicator_mpi_create();

}  // namespace popup
