// braidrun: starts N ranks of a program on this host with the environment Braid's bootstrap
// reads (BRAID_COMM_ID, RANK, WORLD_SIZE, ...), and tears the whole job down as soon as one
// rank fails, so a crashed rank never leaves its peers blocked in a collective forever.
//
// It is deliberately standalone (it does not link libbraid): a launcher must keep working
// when the library it launches is broken. Everything the parent waits for -- child exits,
// forwarded signals, tagged output and deadlines -- goes through a single poll() loop, with
// signals delivered through a signalfd so no work happens inside a signal handler.

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxRanks = 4096;
constexpr int kUsageExit = 2;
constexpr int kTimeoutExit = 124;
constexpr auto kKillGrace = std::chrono::seconds(3);
// A child that never prints a newline must not make us buffer without limit.
constexpr size_t kMaxPartialLine = 64 * 1024;

const char kUsage[] =
    "usage: braidrun -n N [--bind-to core|none] [--tag-output] [--timeout SEC] [--port P]\n"
    "                [--] prog [args...]\n"
    "\n"
    "Starts N ranks of prog on this host, each with BRAID_COMM_ID, RANK, WORLD_SIZE,\n"
    "LOCAL_RANK and LOCAL_WORLD_SIZE set (and BRAID_SOCKET_IFNAME=lo unless already set).\n"
    "Rank 0 hosts the rendezvous on 127.0.0.1:PORT.\n"
    "\n"
    "  -n N, -np N      number of ranks (1..4096)\n"
    "  --bind-to WHAT   core: rank i runs only on the i-th CPU braidrun may use; none: ranks\n"
    "                   go where the scheduler puts them. Default: core when there are at\n"
    "                   least N such CPUs, none otherwise (as mpirun does for small jobs).\n"
    "  --tag-output     prefix every output line with [RANK]\n"
    "  --timeout SEC    stop all ranks after SEC seconds and exit 124\n"
    "  --port P         rendezvous port (default: a free port)\n"
    "  -h, --help       show this help\n"
    "\n"
    "When a rank fails, the others get SIGTERM, then SIGKILL 3 s later, and braidrun exits\n"
    "with the first failing rank's status (128+N for signal N). SIGINT and SIGTERM sent to\n"
    "braidrun are forwarded to every rank. Only rank 0 reads stdin, and only when stdin is\n"
    "not a terminal (each rank runs in its own process group, which a terminal would stop).\n";

// Writes all of buf, retrying short writes; braidrun's own messages and tagged lines both go
// through here so that one message is one write and lines from different ranks never mix.
void WriteAll(int fd, std::string_view buf) {
  while (!buf.empty()) {
    ssize_t n = write(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // Output closed (EPIPE etc.): dropping it must not stop us supervising ranks.
    }
    buf.remove_prefix(static_cast<size_t>(n));
  }
}

[[gnu::format(printf, 1, 2)]] void Report(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (len < 0) return;
  std::string line = "braidrun: ";
  line.append(buf, std::min(static_cast<size_t>(len), sizeof(buf) - 1));
  line += '\n';
  WriteAll(STDERR_FILENO, line);
}

[[noreturn, gnu::format(printf, 1, 2)]] void UsageError(const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "braidrun: %s\nTry 'braidrun --help'.\n", buf);
  std::exit(kUsageExit);
}

std::string SignalName(int sig) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
#endif
  return "signal " + std::to_string(sig);
}

std::optional<long> ParseInteger(const char* text) {
  if (text == nullptr || *text == '\0') return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return value;
}

enum class Binding { kDefault, kCore, kNone };

struct Options {
  int ranks = 0;
  Binding binding = Binding::kDefault;
  bool tag_output = false;
  std::optional<double> timeout_s;
  std::optional<int> port;
  std::vector<std::string> command;
};

Options ParseOptions(int argc, char** argv) {
  Options opts;
  bool have_ranks = false;
  int i = 1;
  // Long options also accept --name=value; the value is split off here so the checks below
  // see one spelling.
  auto value_of = [&](std::string_view name, std::optional<std::string>& inline_value) {
    if (inline_value) return *inline_value;
    if (i + 1 >= argc) UsageError("%.*s needs a value", static_cast<int>(name.size()), name.data());
    return std::string(argv[++i]);
  };
  for (; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg.empty() || arg[0] != '-') break;  // The program starts here.
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0) {
      if (size_t eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg.resize(eq);
      }
    }
    if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (arg == "-n" || arg == "-np" || arg == "--np") {
      std::string text = value_of(arg, inline_value);
      std::optional<long> n = ParseInteger(text.c_str());
      if (!n || *n <= 0)
        UsageError("%s needs a positive number of ranks, got '%s'", arg.c_str(), text.c_str());
      if (*n > kMaxRanks) UsageError("%ld ranks is more than the limit of %d", *n, kMaxRanks);
      opts.ranks = static_cast<int>(*n);
      have_ranks = true;
    } else if (arg == "--bind-to") {
      std::string text = value_of(arg, inline_value);
      if (text == "core") {
        opts.binding = Binding::kCore;
      } else if (text == "none") {
        opts.binding = Binding::kNone;
      } else {
        UsageError("--bind-to takes core or none, got '%s'", text.c_str());
      }
    } else if (arg == "--tag-output") {
      if (inline_value) UsageError("--tag-output takes no value");
      opts.tag_output = true;
    } else if (arg == "--timeout") {
      std::string text = value_of(arg, inline_value);
      char* end = nullptr;
      errno = 0;
      double seconds = std::strtod(text.c_str(), &end);
      if (text.empty() || *end != '\0' || errno != 0 || !std::isfinite(seconds) || seconds <= 0)
        UsageError("--timeout needs a positive number of seconds, got '%s'", text.c_str());
      opts.timeout_s = seconds;
    } else if (arg == "--port") {
      std::string text = value_of(arg, inline_value);
      std::optional<long> port = ParseInteger(text.c_str());
      if (!port || *port < 1 || *port > 65535)
        UsageError("--port needs a port number in 1..65535, got '%s'", text.c_str());
      opts.port = static_cast<int>(*port);
    } else {
      UsageError("unknown option '%s'", argv[i]);
    }
  }
  if (!have_ranks) UsageError("missing -n N (number of ranks)");
  for (; i < argc; ++i)
    opts.command.emplace_back(argv[i]);
  if (opts.command.empty()) UsageError("missing program to run");
  return opts;
}

// Asks the kernel for a free port. Another process could take it before rank 0 binds it;
// --port exists for the cases where that race matters.
int FindFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// One of a rank's output pipes under --tag-output.
struct OutputStream {
  int fd = -1;  // read end; -1 once EOF has been seen
  int rank = 0;
  int dest = STDOUT_FILENO;
  std::string partial;  // bytes after the last newline, waiting for the rest of their line
};

class Launcher {
 public:
  explicit Launcher(Options opts) : opts_(std::move(opts)) {}

  int Run();

 private:
  struct Rank {
    pid_t pid = -1;
    bool running = false;
  };

  bool StartRanks(const std::string& comm_id);
  void Supervise();
  void HandleSignals();
  void ReapChildren();
  void OnRankExit(int rank, int status);
  void BeginTermination(int sig);
  void SignalRunningRanks(int sig);
  void ReadStream(OutputStream& stream);
  void EmitLines(OutputStream& stream, bool at_eof);
  void DrainStreams();
  int RankOf(pid_t pid) const;

  Options opts_;
  std::vector<Rank> ranks_;
  int running_ = 0;
  std::vector<OutputStream> streams_;
  int signal_fd_ = -1;
  sigset_t old_mask_{};

  std::optional<int> exit_status_;  // set by the first failure, timeout or exec error
  bool terminating_ = false;
  bool killed_ = false;
  std::optional<Clock::time_point> kill_at_;
  std::optional<Clock::time_point> timeout_at_;
  int received_signal_ = 0;
};

int Launcher::Run() {
  int port = opts_.port ? *opts_.port : FindFreePort();
  if (port < 0) {
    Report("cannot find a free TCP port on 127.0.0.1: %s", std::strerror(errno));
    return 1;
  }
  std::string comm_id = "127.0.0.1:" + std::to_string(port);

  // Block the signals before the first fork so none is lost between fork and poll; the
  // signalfd picks them up instead. Children restore the old mask before exec.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, &old_mask_);
  signal_fd_ = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd_ < 0) {
    Report("signalfd: %s", std::strerror(errno));
    return 1;
  }
  // A closed stdout must not kill the supervisor and orphan the ranks.
  signal(SIGPIPE, SIG_IGN);

  if (opts_.timeout_s) {
    timeout_at_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(*opts_.timeout_s));
  }
  // If starting failed part way, the ranks already running must not outlive us.
  if (!StartRanks(comm_id)) BeginTermination(SIGTERM);
  Supervise();
  DrainStreams();
  close(signal_fd_);

  if (exit_status_) return *exit_status_;
  if (received_signal_ != 0) return 128 + received_signal_;
  return 0;
}

// The CPU each rank is bound to (empty: no binding). Two ranks left to the scheduler sometimes
// share one CPU for a whole run, each spinning while the other waits for the core; one CPU per
// rank, as mpirun binds small jobs, keeps every rank on its own.
std::vector<int> RankCpus(Binding binding, int ranks) {
  if (binding == Binding::kNone) return {};
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    }
  }
  if (static_cast<int>(cpus.size()) >= ranks) {
    cpus.resize(static_cast<size_t>(ranks));
    return cpus;
  }
  if (binding == Binding::kCore) {
    Report("--bind-to core: %d ranks but only %zu CPUs to bind them to; not binding", ranks,
           cpus.size());
  }
  return {};
}

// Forks every rank. Each child reports a failed exec through a close-on-exec pipe, so the
// parent can print one clear message instead of N ranks each printing their own.
bool Launcher::StartRanks(const std::string& comm_id) {
  const int n = opts_.ranks;
  ranks_.resize(n);
  const bool stdin_is_tty = isatty(STDIN_FILENO) == 1;
  const bool keep_ifname = std::getenv("BRAID_SOCKET_IFNAME") != nullptr;
  const std::string world = std::to_string(n);
  const std::vector<int> cpus = RankCpus(opts_.binding, n);

  std::vector<char*> argv;
  for (std::string& arg : opts_.command)
    argv.push_back(arg.data());
  argv.push_back(nullptr);

  for (int r = 0; r < n; ++r) {
    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    int exec_pipe[2] = {-1, -1};
    auto close_pipes = [&] {
      for (int fd :
           {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], exec_pipe[0], exec_pipe[1]})
        if (fd >= 0) close(fd);
    };
    if ((opts_.tag_output &&
         (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)) ||
        pipe2(exec_pipe, O_CLOEXEC) != 0) {
      Report("cannot create pipes for rank %d: %s", r, std::strerror(errno));
      close_pipes();
      exit_status_ = 1;
      return false;
    }
    const std::string rank = std::to_string(r);

    const pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
      Report("cannot start rank %d: %s", r, std::strerror(errno));
      close_pipes();
      exit_status_ = 1;
      return false;
    }
    if (pid == 0) {
      // Own process group, so that stopping a rank also stops whatever it spawned.
      setpgid(0, 0);
      // If braidrun itself is SIGKILLed nobody would stop the ranks; the kernel does it then.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != parent) _exit(1);
      signal(SIGPIPE, SIG_DFL);
      sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
      if (r != 0 || stdin_is_tty) {
        int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
      }
      if (opts_.tag_output) {
        dup2(out_pipe[1], STDOUT_FILENO);
        dup2(err_pipe[1], STDERR_FILENO);
      }
      setenv("BRAID_COMM_ID", comm_id.c_str(), 1);
      setenv("RANK", rank.c_str(), 1);
      setenv("WORLD_SIZE", world.c_str(), 1);
      setenv("LOCAL_RANK", rank.c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", world.c_str(), 1);
      if (!keep_ifname) setenv("BRAID_SOCKET_IFNAME", "lo", 1);
      if (!cpus.empty()) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpus[static_cast<size_t>(r)], &one);
        sched_setaffinity(0, sizeof(one), &one);  // a refusal leaves the rank unbound
      }
      execvp(argv[0], argv.data());
      int err = errno;
      ssize_t ignored = write(exec_pipe[1], &err, sizeof(err));
      (void)ignored;
      _exit(127);
    }

    setpgid(pid, pid);  // Also from the parent: we may signal the group before the child runs.
    ranks_[r] = {pid, true};
    ++running_;
    close(exec_pipe[1]);
    if (opts_.tag_output) {
      close(out_pipe[1]);
      close(err_pipe[1]);
      for (int fd : {out_pipe[0], err_pipe[0]})
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
      streams_.push_back({out_pipe[0], r, STDOUT_FILENO, {}});
      streams_.push_back({err_pipe[0], r, STDERR_FILENO, {}});
    }

    // EOF here means exec succeeded; an errno means it did not.
    int exec_errno = 0;
    ssize_t got;
    do {
      got = read(exec_pipe[0], &exec_errno, sizeof(exec_errno));
    } while (got < 0 && errno == EINTR);
    close(exec_pipe[0]);
    if (got == static_cast<ssize_t>(sizeof(exec_errno))) {
      Report("cannot run '%s': %s", argv[0], std::strerror(exec_errno));
      // Shell convention: 127 when the program is not there, 126 when it cannot be executed.
      exit_status_ = (exec_errno == ENOENT || exec_errno == ENOTDIR) ? 127 : 126;
      return false;
    }
  }
  return true;
}

void Launcher::Supervise() {
  std::vector<pollfd> fds;
  std::vector<size_t> polled;  // polled[i] is the stream behind fds[i + 1]
  while (running_ > 0) {
    fds.clear();
    polled.clear();
    fds.push_back({signal_fd_, POLLIN, 0});
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i].fd < 0) continue;
      fds.push_back({streams_[i].fd, POLLIN, 0});
      polled.push_back(i);
    }

    int wait_ms = -1;
    std::optional<Clock::time_point> deadline;
    if (!terminating_)
      deadline = timeout_at_;
    else if (!killed_)
      deadline = kill_at_;
    if (deadline) {
      auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
      wait_ms = static_cast<int>(std::max<long long>(0, left.count()));
    }

    int ready = poll(fds.data(), fds.size(), wait_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      // Without poll we can no longer supervise; make sure no rank outlives us.
      Report("poll: %s", std::strerror(errno));
      if (!exit_status_) exit_status_ = 1;
      SignalRunningRanks(SIGKILL);
      int status = 0;
      pid_t pid;
      while (running_ > 0 && (pid = waitpid(-1, &status, 0)) > 0) {
        if (int rank = RankOf(pid); rank >= 0) {
          ranks_[rank].running = false;
          --running_;
        }
      }
      return;
    }

    if (fds[0].revents != 0) HandleSignals();
    for (size_t i = 0; i < polled.size(); ++i) {
      if (fds[i + 1].revents != 0) ReadStream(streams_[polled[i]]);
    }

    auto now = Clock::now();
    if (!terminating_ && timeout_at_ && now >= *timeout_at_) {
      Report("timeout after %g s", *opts_.timeout_s);
      exit_status_ = kTimeoutExit;
      BeginTermination(SIGTERM);
    } else if (terminating_ && !killed_ && kill_at_ && now >= *kill_at_) {
      SignalRunningRanks(SIGKILL);
      killed_ = true;
    }
  }
}

void Launcher::HandleSignals() {
  signalfd_siginfo info;
  bool child_exited = false;
  while (read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGCHLD) {
      child_exited = true;
    } else {
      if (received_signal_ == 0) received_signal_ = sig;
      Report("got %s, forwarding it to the ranks", SignalName(sig).c_str());
      SignalRunningRanks(sig);
      // Forwarding counts as the start of a shutdown: ranks that ignore the signal still go
      // after the grace period.
      if (!terminating_) {
        terminating_ = true;
        kill_at_ = Clock::now() + kKillGrace;
      }
    }
  }
  // SIGCHLD is coalesced, so one notification may stand for several exits.
  if (child_exited) ReapChildren();
}

void Launcher::ReapChildren() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    int rank = RankOf(pid);
    if (rank < 0) continue;
    ranks_[rank].running = false;
    --running_;
    OnRankExit(rank, status);
  }
}

void Launcher::OnRankExit(int rank, int status) {
  int code = 0;
  std::string how;
  if (WIFEXITED(status)) {
    code = WEXITSTATUS(status);
    how = "exited with status " + std::to_string(code);
  } else if (WIFSIGNALED(status)) {
    code = 128 + WTERMSIG(status);
    how = "killed by signal " + SignalName(WTERMSIG(status));
  }
  if (code == 0) return;
  // Only the first failure is reported and decides the exit status; the ones after it are
  // usually the SIGTERM we sent, and reporting them would bury the cause.
  if (exit_status_) return;
  exit_status_ = code;
  Report("rank %d %s", rank, how.c_str());
  BeginTermination(SIGTERM);
}

// A forwarded signal may already have started the shutdown; its grace period then stands.
void Launcher::BeginTermination(int sig) {
  if (terminating_) return;
  terminating_ = true;
  kill_at_ = Clock::now() + kKillGrace;
  SignalRunningRanks(sig);
}

void Launcher::SignalRunningRanks(int sig) {
  // Only ranks not yet reaped: their pid pins the process group id, so it cannot have been
  // reused by an unrelated group.
  for (const Rank& r : ranks_) {
    if (!r.running) continue;
    if (kill(-r.pid, sig) != 0) kill(r.pid, sig);
  }
}

int Launcher::RankOf(pid_t pid) const {
  for (size_t r = 0; r < ranks_.size(); ++r) {
    if (ranks_[r].pid == pid) return static_cast<int>(r);
  }
  return -1;
}

// At EOF the stream is closed and its unfinished last line flushed.
void Launcher::ReadStream(OutputStream& stream) {
  char buf[65536];
  while (true) {
    ssize_t n = read(stream.fd, buf, sizeof(buf));
    if (n > 0) {
      stream.partial.append(buf, static_cast<size_t>(n));
      EmitLines(stream, false);
      return;  // One read per wakeup keeps one chatty rank from starving the others.
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    EmitLines(stream, true);
    close(stream.fd);
    stream.fd = -1;
    return;
  }
}

void Launcher::EmitLines(OutputStream& stream, bool at_eof) {
  // Built with snprintf: g++ 12 at -O3 warns falsely (-Wrestrict) on string concatenation here.
  char prefixBuf[32];
  snprintf(prefixBuf, sizeof(prefixBuf), "[%d] ", stream.rank);
  const std::string prefix = prefixBuf;
  std::string out;
  size_t start = 0;
  while (true) {
    size_t nl = stream.partial.find('\n', start);
    if (nl == std::string::npos) break;
    out += prefix;
    out.append(stream.partial, start, nl + 1 - start);
    start = nl + 1;
  }
  stream.partial.erase(0, start);
  if (!stream.partial.empty() && (at_eof || stream.partial.size() >= kMaxPartialLine)) {
    out += prefix;
    out += stream.partial;
    out += '\n';
    stream.partial.clear();
  }
  if (!out.empty()) WriteAll(stream.dest, out);
}

// Everything a rank wrote before exiting is already in its pipe once it has been reaped; a
// left-over grandchild could keep the pipe open forever, so read what is there and stop.
void Launcher::DrainStreams() {
  for (OutputStream& s : streams_) {
    while (s.fd >= 0) {
      char buf[65536];
      ssize_t n = read(s.fd, buf, sizeof(buf));
      if (n > 0) {
        s.partial.append(buf, static_cast<size_t>(n));
        EmitLines(s, false);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      EmitLines(s, true);
      close(s.fd);
      s.fd = -1;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Launcher launcher(ParseOptions(argc, argv));
  return launcher.Run();
}
