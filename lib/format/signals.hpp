// How the tools take SIGINT, SIGTERM, SIGHUP and SIGUSR1 (DESIGN.md §11): blocked in every thread
// and received by one watcher thread (sigwait), so that no handler ever runs on a compute thread.
// With a handler, one Ctrl-C in twenty under load corrupted the heap, found freed inside a
// oneDNN kernel on an OpenMP thread (issue 15); with the watcher, none in 120.
#pragma once

#include <atomic>

namespace popup {

// Once, first thing in main, before any other thread exists (threads inherit the mask): block
// SIGINT, SIGTERM, SIGHUP and SIGUSR1 and start the watcher. On one of them the watcher removes the
// temporary files of outputs not yet committed (output_temps_remove) and ends the process by
// that signal. SIGPIPE, which comes to the thread that wrote, gets a handler doing the same.
void signals_watch();

// From now on the first SIGINT or SIGUSR1 only sets *flag (the program stops at a safe point
// and exits by itself); a second one, or SIGTERM or SIGHUP, ends the process as above.
// nullptr: back to ending at the first. (SIGUSR1 is the stop request that mpirun forwards to
// every rank and Slurm sends with scancel --signal=USR1; on SIGINT mpirun ends the ranks.)
void signals_interrupt_flag(std::atomic<bool>* flag);

}  // namespace popup
