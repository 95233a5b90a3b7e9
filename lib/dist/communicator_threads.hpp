// A Communicator over the threads of one process (DESIGN.md §8): n communicators, one per
// thread, whose collectives meet in shared memory, with the same results (bits included) as
// the MPI plugin's. For tests of data-parallel training without launching processes.
#pragma once

#include <memory>
#include <vector>

#include "dist/communicator.hpp"

namespace popup {

// communicators[r] is rank r's; each must be used by one thread only, and all of them outlive
// their collectives. abort() throws popup::Error in the thread that calls it (and makes the
// others' pending and later collectives throw too) rather than ending the process.
std::vector<std::unique_ptr<Communicator>> communicators_in_process(int n);

}  // namespace popup
