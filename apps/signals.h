// SIGINT and SIGTERM for every command: the first one requests a stop (the command finishes the
// step it is in, writes what it has and exits with 128 + the signal: 130 or 143); a second one
// ends the process at once with the signal's default action.
//
// The signals are blocked from the very start of the process (an ELF .preinit_array entry runs
// before any library's initialisers; loading LibTorch alone takes most of a second), so one that
// arrives while the program is still starting stays pending and is handled as soon as
// InstallSignalStop() runs in main, instead of killing the process.
#pragma once

#include "core/stop_flag.h"

namespace apprentice {

// Starts the signal thread and unblocks the signals. Once, first thing in main. `program` names
// the command in the message printed on the first signal.
void InstallSignalStop(const char* program);

// The process's stop flag (set by the first SIGINT or SIGTERM).
StopFlag& ProcessStop();

// The signal that requested the stop (SIGINT or SIGTERM), or 0.
int StopSignal();

// 128 + StopSignal(): the exit code of a command stopped by a signal (130 or 143).
int StopExitCode();

}  // namespace apprentice
