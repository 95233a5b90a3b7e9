// How the tools take SIGINT, SIGTERM and SIGHUP (DESIGN.md §11): blocked in every thread and
// received by one watcher thread (sigwait), so that no handler ever runs on a compute thread.
// With a handler, one Ctrl-C in twenty under load corrupted the heap, found freed inside a
// oneDNN kernel on an OpenMP thread (issue 15); with the watcher, none in 120.
#pragma once

#include <atomic>

namespace popup {

// Once, first thing in main, before any other thread exists (threads inherit the mask): block
// SIGINT, SIGTERM and SIGHUP and start the watcher. On one of them the watcher removes the
// temporary files of outputs not yet committed (output_temps_remove) and ends the process by
// that signal. SIGPIPE, which comes to the thread that wrote, gets a handler doing the same.
void signals_watch();

// From now on the first SIGINT only sets *flag (the program stops at a safe point and exits by
// itself); a second SIGINT, or SIGTERM or SIGHUP, ends the process as above. nullptr: back to
// ending at the first SIGINT.
void signals_interrupt_flag(std::atomic<bool>* flag);

}  // namespace popup
