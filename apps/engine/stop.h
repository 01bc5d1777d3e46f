#pragma once
// SIGINT/SIGTERM ask long work to stop cleanly: training finishes the current step, writes
// last.ckpt and exits. A second signal ends the process at once.
namespace skipzoo::app {

void install_stop_handlers();
bool stop_requested();
void request_stop();  // what the handler does; also used by tests
void clear_stop_request();

}  // namespace skipzoo::app
