// Faults that need ranks as real processes: a rank killed mid-allreduce, ranks calling different
// collectives, a broadcast root running ahead of a sleeping peer, a silent rank, a rank missing
// at rendezvous, and a rank stopped with SIGSTOP. Each test launches fault_worker once per rank
// with posix_spawn (BRAID_COMM_ID on a free loopback port, RANK, WORLD_SIZE,
// BRAID_SOCKET_IFNAME=lo), reads each worker's stdout through a pipe, and checks exit codes,
// result lines and how soon survivors gave up. Every wait has a deadline after which all workers
// are killed and the test fails: a fault test never hangs.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "collectives/braid.h"
#include "fault_messages.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

int64_t msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// A TCP port on 127.0.0.1 that nothing listens on right now.
int freeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

// One worker's "result ..." line.
struct Result {
  int rank = -1;
  int code = -1;
  int64_t ms = -1;
  std::string msg;
};

std::optional<Result> parseResult(const std::string& out) {
  for (size_t at = 0; at < out.size();) {
    size_t end = out.find('\n', at);
    std::string line = out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? out.size() : end + 1;
    Result r;
    long long ms = -1;
    int used = 0;
    if (std::sscanf(line.c_str(), "result rank=%d code=%d ms=%lld msg=%n", &r.rank, &r.code, &ms,
                    &used) == 3 &&
        used > 0) {
      r.ms = ms;
      r.msg = line.substr(static_cast<size_t>(used));
      return r;
    }
  }
  return std::nullopt;
}

struct Worker {
  int rank = -1;
  pid_t pid = -1;
  int outFd = -1;  // the worker's stdout
  int errFd = -1;  // its stderr, for failure reports
  std::string out;
  std::string err;
  bool exited = false;
  int status = 0;
  Clock::time_point exitedAt{};

  bool exitedNormallyWith(int code) const {
    return exited && WIFEXITED(status) && WEXITSTATUS(status) == code;
  }
  bool killedBy(int sig) const { return exited && WIFSIGNALED(status) && WTERMSIG(status) == sig; }
  std::string describe() const {
    std::string s = "rank " + std::to_string(rank) + " (pid " + std::to_string(pid) + ") ";
    if (!exited) {
      s += "still running";
    } else if (WIFEXITED(status)) {
      s += "exited " + std::to_string(WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
      s += "killed by signal " + std::to_string(WTERMSIG(status));
    }
    return s + "\n  stdout: " + out + "  stderr: " + err;
  }
};

// Launches and watches the workers of one scenario. The destructor kills whatever still runs.
class Launch {
 public:
  // Starts `ranks` of a WORLD_SIZE=worldSize communicator; timeoutMs <= 0 leaves
  // BRAID_TIMEOUT_MS unset.
  Launch(const std::string& scenario, int worldSize, const std::vector<int>& ranks, int timeoutMs) {
    int port = freeLoopbackPort();
    if (port <= 0) {
      error_ = "no free loopback port";
      return;
    }
    for (int rank : ranks) {
      std::vector<std::string> env = environmentFor(rank, worldSize, port, timeoutMs);
      if (!spawn(scenario, rank, env)) return;
    }
  }

  ~Launch() { killAll(SIGKILL); }
  Launch(const Launch&) = delete;
  Launch& operator=(const Launch&) = delete;

  const std::string& error() const { return error_; }
  Worker& rank(int r) {
    for (Worker& w : workers_) {
      if (w.rank == r) return w;
    }
    throw std::out_of_range("no worker for rank " + std::to_string(r));
  }
  std::vector<Worker>& workers() { return workers_; }

  // Waits until `done` holds, pumping output and reaping exits; false when the deadline passed.
  template <typename Done>
  bool waitUntil(Done&& done, Clock::time_point deadline) {
    for (;;) {
      pump(10);
      if (done()) return true;
      if (Clock::now() >= deadline) return false;
    }
  }

  bool allExited() const {
    for (const Worker& w : workers_) {
      if (!w.exited) return false;
    }
    return true;
  }

  // Every worker's state, for failure messages.
  std::string describeAll() const {
    std::string s;
    for (const Worker& w : workers_)
      s += w.describe() + "\n";
    return s;
  }

  void signal(int r, int sig) {
    Worker& w = rank(r);
    if (!w.exited) ::kill(w.pid, sig);
  }

  void killAll(int sig) {
    for (Worker& w : workers_) {
      if (!w.exited) {
        ::kill(w.pid, SIGCONT);
        ::kill(w.pid, sig);
      }
    }
    // The signal is final: reap everyone so no zombie or descriptor outlives the test.
    waitUntil([this] { return allExited(); }, Clock::now() + std::chrono::seconds(10));
    for (Worker& w : workers_) {
      for (int* fd : {&w.outFd, &w.errFd}) {
        if (*fd >= 0) close(*fd);
        *fd = -1;
      }
    }
  }

 private:
  static std::vector<std::string> environmentFor(int rank, int worldSize, int port, int timeoutMs) {
    std::map<std::string, std::string> set = {
        {"BRAID_COMM_ID", "127.0.0.1:" + std::to_string(port)},
        {"RANK", std::to_string(rank)},
        {"WORLD_SIZE", std::to_string(worldSize)},
        {"BRAID_SOCKET_IFNAME", "lo"},
    };
    if (timeoutMs > 0) set["BRAID_TIMEOUT_MS"] = std::to_string(timeoutMs);
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry = *e;
      std::string name = entry.substr(0, entry.find('='));
      // Drop what the scenario sets, and any launcher's rank variables that could compete.
      if (set.count(name) != 0 || name == "BRAID_TIMEOUT_MS" || name == "MASTER_ADDR" ||
          name == "MASTER_PORT") {
        continue;
      }
      env.push_back(entry);
    }
    for (const auto& [k, v] : set)
      env.push_back(k + "=" + v);
    return env;
  }

  bool spawn(const std::string& scenario, int rank, const std::vector<std::string>& env) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) return fail("pipe2");
    if (pipe2(err, O_CLOEXEC) != 0) {
      close(out[0]);
      close(out[1]);
      return fail("pipe2");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    // BRAID_FAULT_WRAPPER (the rdma suite's as_rdma_hosts.sh) starts the worker instead, to give
    // each rank its own host identity and verbs device.
    std::string worker = BRAID_FAULT_WORKER;
    const char* wrapper = std::getenv("BRAID_FAULT_WRAPPER");
    std::string path = wrapper != nullptr ? wrapper : worker;
    std::vector<char*> argv = {path.data(), const_cast<char*>(scenario.c_str()), nullptr};
    if (wrapper != nullptr) argv.insert(argv.begin() + 1, worker.data());
    std::vector<char*> envp;
    for (const std::string& e : env)
      envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
      close(out[0]);
      close(err[0]);
      error_ = "posix_spawn " + path + ": " + std::strerror(rc);
      return false;
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    Worker w;
    w.rank = rank;
    w.pid = pid;
    w.outFd = out[0];
    w.errFd = err[0];
    workers_.push_back(std::move(w));
    return true;
  }

  bool fail(const char* call) {
    error_ = std::string(call) + ": " + std::strerror(errno);
    return false;
  }

  static void drain(int fd, std::string* into) {
    char buf[4096];
    for (;;) {
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) return;
      into->append(buf, static_cast<size_t>(n));
    }
  }

  // Reads what the workers wrote (waiting up to waitMs for some) and reaps those that ended.
  void pump(int waitMs) {
    std::vector<pollfd> fds;
    for (const Worker& w : workers_) {
      if (w.outFd >= 0) fds.push_back(pollfd{w.outFd, POLLIN, 0});
      if (w.errFd >= 0) fds.push_back(pollfd{w.errFd, POLLIN, 0});
    }
    if (!fds.empty()) {
      poll(fds.data(), fds.size(), waitMs);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(waitMs));
    }
    for (Worker& w : workers_) {
      if (w.outFd >= 0) drain(w.outFd, &w.out);
      if (w.errFd >= 0) drain(w.errFd, &w.err);
      if (w.exited) continue;
      int status = 0;
      if (waitpid(w.pid, &status, WNOHANG) == w.pid) {
        w.exited = true;
        w.status = status;
        w.exitedAt = Clock::now();
        // The pipes may still hold its last words.
        if (w.outFd >= 0) drain(w.outFd, &w.out);
        if (w.errFd >= 0) drain(w.errFd, &w.err);
      }
    }
  }

  std::vector<Worker> workers_;
  std::string error_;
};

// Waits for every worker to exit within `limit`, else kills them all and fails the test.
#define WAIT_ALL_EXITED(launch, limit)                                                    \
  do {                                                                                    \
    bool ended_ =                                                                         \
        (launch).waitUntil([&] { return (launch).allExited(); }, Clock::now() + (limit)); \
    if (!ended_) {                                                                        \
      std::string state_ = (launch).describeAll();                                        \
      (launch).killAll(SIGKILL);                                                          \
      FAIL() << "workers still running after the deadline; killed them all:\n" << state_; \
    }                                                                                     \
  } while (0)

#define ASSERT_LAUNCHED(launch) \
  ASSERT_TRUE((launch).error().empty()) << "could not launch the workers: " << (launch).error()

// Checks a worker that must have exited 0 with a result line whose code is one of `codes`.
Result expectSurvivor(const Worker& w, std::initializer_list<braidResult_t> codes) {
  EXPECT_TRUE(w.exitedNormallyWith(0)) << w.describe();
  std::optional<Result> r = parseResult(w.out);
  EXPECT_TRUE(r.has_value()) << "no result line: " << w.describe();
  if (!r) return Result{};
  EXPECT_EQ(r->rank, w.rank) << w.describe();
  bool codeOk = false;
  for (braidResult_t c : codes)
    codeOk |= r->code == static_cast<int>(c);
  const char* name = r->code >= 0 && r->code < braidNumResults
                         ? braidGetErrorString(static_cast<braidResult_t>(r->code))
                         : "not a braidResult_t";
  EXPECT_TRUE(codeOk) << "code " << r->code << " (" << name
                      << ") is not the expected one: " << w.describe();
  return *r;
}

// The names in /dev/shm (empty where it does not exist).
std::set<std::string> devShmEntries() {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm", ec))
    names.insert(entry.path().filename().string());
  return names;
}

// The survivors fail with braidRemoteError within 5 s, and the killed rank leaves nothing in
// /dev/shm. Over shared memory (forced, so the residue check means something) unless the caller
// chose a transport (the rdma suite runs this test over ib).
TEST(Faults, KilledRankFailsSurvivorsWithRemoteErrorWithinFiveSeconds) {
  const bool forceShm = std::getenv("BRAID_TRANSPORT") == nullptr;
  if (forceShm) setenv("BRAID_TRANSPORT", "shm", 1);
  struct Restore {
    bool unset;
    ~Restore() {
      if (unset) unsetenv("BRAID_TRANSPORT");
    }
  } restore{forceShm};
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const std::set<std::string> before = devShmEntries();
    Launch launch("kill", 4, {0, 1, 2, 3}, 60000);
    ASSERT_LAUNCHED(launch);
    WAIT_ALL_EXITED(launch, std::chrono::seconds(20));
    Worker& victim = launch.rank(2);
    ASSERT_TRUE(victim.killedBy(SIGKILL)) << victim.describe();
    for (int r : {0, 1, 3}) {
      const Worker& w = launch.rank(r);
      Result res = expectSurvivor(w, {braidRemoteError});
      EXPECT_NE(res.code, static_cast<int>(braidTimeout)) << w.describe();
      int64_t after = msBetween(victim.exitedAt, w.exitedAt);
      EXPECT_LT(after, 5000) << "rank " << r << " exited " << after
                             << " ms after rank 2 died: " << w.describe();
    }
    for (const std::string& name : devShmEntries()) {
      EXPECT_TRUE(before.count(name)) << "/dev/shm/" << name << " appeared during the run";
    }
  }
}

// Runs a mismatch scenario on ranks 0..ranks-1: every rank must fail naming both calls.
void expectEveryRankNamesBothCalls(const std::string& scenario, int ranks) {
  std::vector<int> all(static_cast<size_t>(ranks));
  std::iota(all.begin(), all.end(), 0);
  Launch launch(scenario, ranks, all, 20000);
  ASSERT_LAUNCHED(launch);
  WAIT_ALL_EXITED(launch, std::chrono::seconds(30));
  for (Worker& w : launch.workers()) {
    Result res = expectSurvivor(w, {braidInvalidUsage});
    EXPECT_NE(res.msg.find("braidBroadcast"), std::string::npos) << w.describe();
    EXPECT_NE(res.msg.find("braidAllReduce"), std::string::npos) << w.describe();
  }
}

TEST(Faults, MismatchedCollectivesFailEveryRankNamingBothCalls) {
  expectEveryRankNamesBothCalls("mismatch", 3);
}

// A broadcast root returns once its data is out, as an eager MPI send does: a mismatch is still
// found, by the ranks that receive at once and by the root in its next call.
TEST(Faults, MismatchWithAnEagerBroadcastRootFailsEveryRankByItsNextCall) {
  for (int ranks : {2, 3}) {
    SCOPED_TRACE(std::to_string(ranks) + " ranks");
    expectEveryRankNamesBothCalls("eager", ranks);
  }
}

// A root that goes on broadcasting may run ahead of its checks by the header window (256 calls),
// no more: it fails by the call after, through its own check or the others' notice.
TEST(Faults, MismatchFailsABroadcastRootRunningAheadWithinTheHeaderWindow) {
  for (int ranks : {2, 3}) {
    SCOPED_TRACE(std::to_string(ranks) + " ranks");
    expectEveryRankNamesBothCalls("eager-loop", ranks);
  }
}

// No further: with its successor asleep, the root's next call waits for it.
TEST(Faults, ABroadcastRootRunsAheadOfItsChecksByExactlyTheHeaderWindow) {
  Launch launch("window", 2, {0, 1}, 20000);
  ASSERT_LAUNCHED(launch);
  WAIT_ALL_EXITED(launch, std::chrono::seconds(30));
  for (Worker& w : launch.workers())
    EXPECT_TRUE(w.exitedNormallyWith(0)) << w.describe();
}

TEST(Faults, SilentRankTimesOutOthersNamingIt) {
  Launch launch("silent", 3, {0, 1, 2}, 1000);
  ASSERT_LAUNCHED(launch);
  WAIT_ALL_EXITED(launch, std::chrono::seconds(30));
  for (int r : {0, 1}) {
    const Worker& w = launch.rank(r);
    Result res = expectSurvivor(w, {braidTimeout});
    EXPECT_LT(res.ms, 4000) << w.describe();
    EXPECT_TRUE(braid::test::mentionsRank(res.msg, 2)) << "rank 2 is not named: " << w.describe();
  }
  EXPECT_TRUE(launch.rank(2).exitedNormallyWith(0)) << launch.rank(2).describe();
}

TEST(Faults, MissingRankFailsRendezvousNamingIt) {
  Launch launch("rendezvous", 3, {0, 1}, 1500);
  ASSERT_LAUNCHED(launch);
  Clock::time_point start = Clock::now();
  WAIT_ALL_EXITED(launch, std::chrono::seconds(30));
  for (Worker& w : launch.workers()) {
    EXPECT_TRUE(w.exitedNormallyWith(0)) << w.describe();
    std::optional<Result> res = parseResult(w.out);
    ASSERT_TRUE(res.has_value()) << w.describe();
    EXPECT_NE(res->code, static_cast<int>(braidSuccess)) << w.describe();
    EXPECT_LT(res->ms, 5000) << w.describe();
    bool missing = res->msg.find("did not arrive") != std::string::npos ||
                   res->msg.find("missing") != std::string::npos;
    EXPECT_TRUE(braid::test::mentionsRank(res->msg, 2) && missing)
        << "the message does not name rank 2 as missing: " << w.describe();
    EXPECT_LT(msBetween(start, w.exitedAt), 5000) << w.describe();
  }
}

TEST(Faults, StoppedRankFailsOthersNamingItWithinFiveSeconds) {
  Launch launch("stopped", 3, {0, 1, 2}, 1500);
  ASSERT_LAUNCHED(launch);
  auto allReady = [&] {
    for (const Worker& w : launch.workers()) {
      if (w.out.find("ready\n") == std::string::npos) return false;
    }
    return true;
  };
  if (!launch.waitUntil(allReady, Clock::now() + std::chrono::seconds(20))) {
    std::string state = launch.describeAll();
    launch.killAll(SIGKILL);
    FAIL() << "not every worker became ready:\n" << state;
  }
  launch.signal(1, SIGSTOP);
  Clock::time_point stoppedAt = Clock::now();
  auto othersExited = [&] { return launch.rank(0).exited && launch.rank(2).exited; };
  bool ended = launch.waitUntil(othersExited, stoppedAt + std::chrono::seconds(30));
  launch.signal(1, SIGCONT);
  launch.signal(1, SIGKILL);
  if (!ended) {
    std::string state = launch.describeAll();
    launch.killAll(SIGKILL);
    FAIL() << "ranks 0 and 2 still running 30 s after rank 1 stopped:\n" << state;
  }
  WAIT_ALL_EXITED(launch, std::chrono::seconds(10));
  for (int r : {0, 2}) {
    const Worker& w = launch.rank(r);
    Result res = expectSurvivor(w, {braidTimeout, braidRemoteError});
    EXPECT_TRUE(braid::test::mentionsRank(res.msg, 1)) << "rank 1 is not named: " << w.describe();
    int64_t after = msBetween(stoppedAt, w.exitedAt);
    EXPECT_LT(after, 5000) << "rank " << r << " exited " << after
                           << " ms after rank 1 stopped: " << w.describe();
  }
}

}  // namespace
