// Child processes for multi-process tests: spawn, signal, wait, capture output.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace kvfunda::testing {

// A child process whose stdout and stderr go to `log_path`.
class Subprocess {
 public:
  Subprocess() = default;
  Subprocess(const std::vector<std::string>& argv, const std::string& log_path) { Start(argv, log_path); }
  ~Subprocess() { Kill(SIGKILL); }
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  bool Start(const std::vector<std::string>& argv, const std::string& log_path) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) pid_ = -1;
    exited_ = false;
    return pid_ > 0;
  }

  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ <= 0 || exited_) return false;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exited_ = true;
      status_ = status;
      return false;
    }
    return true;
  }

  void Kill(int sig) {
    if (pid_ > 0 && !exited_) {
      kill(pid_, sig);
      if (sig == SIGKILL) Wait(std::chrono::seconds(10));
    }
  }

  // Waits for exit; returns the exit status (128+signal when killed), or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() > end) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (pid_ <= 0) return -1;
    if (WIFEXITED(status_)) return WEXITSTATUS(status_);
    if (WIFSIGNALED(status_)) return 128 + WTERMSIG(status_);
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = true;
  int status_ = 0;
};

// Runs a command to completion; returns (exit status, stdout+stderr).
inline std::pair<int, std::string> RunCommand(const std::vector<std::string>& argv,
                                              const std::string& scratch_log) {
  std::remove(scratch_log.c_str());
  Subprocess p(argv, scratch_log);
  int rc = p.Wait(std::chrono::seconds(120));
  std::ifstream in(scratch_log);
  std::stringstream ss;
  ss << in.rdbuf();
  return {rc, ss.str()};
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace kvfunda::testing
