// A Python env server (python/apprentice_env.py) for tests: started as a child process on a free
// loopback port, its endpoint read from the line it prints, killed when the object goes away.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace apprentice {

class PythonEnvServer {
 public:
  // Runs `python script --bind tcp://127.0.0.1:* extra...` and waits (up to 30 s) for its
  // "serving NAME on ENDPOINT" line. Throws std::runtime_error if it does not come.
  PythonEnvServer(const std::string& python, const std::string& script,
                  std::vector<std::string> extra = {}) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> args = {python, script, "--bind", "tcp://127.0.0.1:*", "--quiet"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      // The server dies with the test process, whatever ends it (a static server is never
      // destroyed; a crash skips destructors).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], STDOUT_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::execv(python.c_str(), argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    // Read the first line, bounded in time.
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    std::string line;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < give_up) {
      char buffer[256];
      const ssize_t n = ::read(out[0], buffer, sizeof buffer);
      if (n > 0) {
        line.append(buffer, static_cast<size_t>(n));
      } else if (n == 0) {
        break;  // the server exited
      } else {
        ::usleep(10'000);
      }
    }
    ::close(out[0]);
    const size_t on = line.find(" on ");
    const size_t end = line.find('\n');
    if (line.rfind("serving ", 0) != 0 || on == std::string::npos || end == std::string::npos) {
      Kill();
      throw std::runtime_error(script + " did not say where it serves (got: '" + line + "')");
    }
    endpoint_ = line.substr(on + 4, end - on - 4);
  }
  ~PythonEnvServer() { Kill(); }
  PythonEnvServer(const PythonEnvServer&) = delete;
  PythonEnvServer& operator=(const PythonEnvServer&) = delete;

  const std::string& endpoint() const { return endpoint_; }

  // SIGKILL and reap (idempotent): the server dies without closing anything.
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::string endpoint_;
};

}  // namespace apprentice
