#include "apps/signals.h"

#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <thread>

namespace apprentice {
namespace {

void BlockStopSignals(int, char**, char**) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// Runs before every shared library's initialisers (executables only: this file is compiled into
// the apprentice binary).
[[gnu::used, gnu::section(".preinit_array")]] void (*const kBlockStopSignalsEarly)(
    int, char**, char**) = BlockStopSignals;

std::atomic<int> g_signal{0};
const char* g_program = "apprentice";

class SignalThread {
 public:
  SignalThread() : signals_(io_, SIGINT, SIGTERM) {
    signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      g_signal.store(signal);
      ProcessStop().Request();
      std::fprintf(stderr, "\n%s: %s received: stopping (again to abort)\n", g_program,
                   signal == SIGINT ? "SIGINT" : "SIGTERM");
      signals_.async_wait([](const boost::system::error_code& e, int s) {
        if (e) return;
        std::signal(s, SIG_DFL);
        ::kill(::getpid(), s);  // to the process: this thread keeps the signals blocked
      });
    });
    thread_ = std::thread([this] { io_.run(); });
    thread_.detach();  // lives as long as the process
  }

 private:
  boost::asio::io_context io_;
  boost::asio::signal_set signals_;
  std::thread thread_;
};

}  // namespace

StopFlag& ProcessStop() {
  static StopFlag* flag = new StopFlag();  // never destroyed: the signal thread outlives main
  return *flag;
}

void InstallSignalStop(const char* program) {
  g_program = program;
  static SignalThread* thread = new SignalThread();  // never destroyed, as above
  (void)thread;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int StopSignal() { return g_signal.load(); }

int StopExitCode() { return 128 + StopSignal(); }

}  // namespace apprentice
