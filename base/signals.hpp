// SIGINT, SIGTERM and SIGHUP ask a training loop to stop after the current step; a second one kills.
#pragma once

namespace genbox {

void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_signal();

}  // namespace genbox
