#include "base/signals.hpp"

#include <csignal>

namespace genbox {

namespace {
volatile std::sig_atomic_t requested_signal = 0;

void on_stop_signal(int signal) {
  requested_signal = signal;
  // A second Ctrl-C should not wait for the checkpoint.
  std::signal(signal, SIG_DFL);
}
}  // namespace

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  // A dropped ssh session: stop as on SIGTERM, with a checkpoint.
  std::signal(SIGHUP, on_stop_signal);
}

int stop_signal() { return requested_signal; }

}  // namespace genbox
