// The signal watcher thread of the tools (signals.hpp).
#include "format/signals.hpp"

#include <pthread.h>
#include <signal.h>

#include <thread>

#include "format/output_file.hpp"

namespace popup {
namespace {

std::atomic<std::atomic<bool>*> interrupt_flag{nullptr};

// Remove the temporary files, then die by `sig` as if it had not been caught: its default
// action, taken by this thread alone with the signal unblocked here.
[[noreturn]] void die_by(int sig) {
  output_temps_remove();
  signal(sig, SIG_DFL);
  sigset_t one;
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
  raise(sig);
  _Exit(128 + sig);  // not reached: the default action of these signals ends the process
}

extern "C" void on_sigpipe(int sig) { die_by(sig); }

void watch(sigset_t set) {
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    std::atomic<bool>* flag = interrupt_flag.load();
    if ((sig == SIGINT || sig == SIGUSR1) && flag && !flag->exchange(true)) continue;
    die_by(sig);
  }
}

}  // namespace

void signals_watch() {
  sigset_t set;
  sigemptyset(&set);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP, SIGUSR1}) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(watch, set).detach();
  signal(SIGPIPE, on_sigpipe);
}

void signals_interrupt_flag(std::atomic<bool>* flag) { interrupt_flag = flag; }

}  // namespace popup
