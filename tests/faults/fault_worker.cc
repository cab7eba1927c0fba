// fault_worker: one rank of a fault scenario that fault_test launches as a real process. It joins
// through the environment (RANK, WORLD_SIZE, BRAID_COMM_ID, via braidCommInitFromEnv), plays its
// part of the scenario named by argv[1], prints one line
//   result rank=R code=<braidResult_t> ms=<duration of the failing call> msg=<braidGetLastError>
// and exits 0 when it saw what the scenario expects of its rank, 1 otherwise.
//
// Scenarios:
//   kill        every rank loops on 32 MiB float allreduces (BRAID_FAULT_KILL_BYTES: less, for
//               slow emulated links); rank 2 SIGKILLs itself 500 ms after its first one returned,
//               so it dies with its connections up on any link; the others expect
//               braidRemoteError.
//   mismatch    rank 1 calls braidBroadcast, the others braidAllReduce (count 1000); every rank
//               expects braidInvalidUsage naming both calls.
//   eager       rank 0 calls braidBroadcast as its root (count 8), the others braidAllReduce. The
//               root receives nothing, so its broadcast may return before it hears of the
//               mismatch; then its next call (an allreduce) must fail. Every rank expects
//               braidInvalidUsage naming both calls.
//   eager-loop  as eager, but the root goes on broadcasting: having received nothing, it may run
//               ahead of its checks by the header window (kMaxCallsAhead), and must fail by the
//               call after. Every rank expects braidInvalidUsage naming both calls.
//   window      2 ranks broadcast once from rank 0; then rank 1 sleeps 1.5 s while rank 0 goes on
//               broadcasting: exactly the header window's calls may return within the first
//               second, the next waits for rank 1. Both expect every call to succeed.
//   silent      rank 2 joins and sleeps 6 s; the others' allreduce expects braidTimeout within
//               4 s naming rank 2.
//   rendezvous  started with fewer ranks than WORLD_SIZE: init expects to fail naming rank 2.
//   stopped     every rank prints "ready", waits 300 ms and loops on allreduces; the test stops
//               rank 1; the others expect braidTimeout or braidRemoteError naming rank 1.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "collectives/braid.h"
#include "core/comm.h"
#include "fault_messages.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t msSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

bool contains(const std::string& text, const char* word) {
  return text.find(word) != std::string::npos;
}

int report(int rank, braidResult_t code, int64_t ms, std::string msg, bool expected) {
  for (char& c : msg) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  std::printf("result rank=%d code=%d ms=%lld msg=%s\n", rank, static_cast<int>(code),
              static_cast<long long>(ms), msg.c_str());
  std::fflush(stdout);
  return expected ? 0 : 1;
}

// Runs allreduces of `count` floats until one fails or `limit` passes; returns the failing call's
// code (braidSuccess if none failed) and its duration in *ms. afterFirst runs once the first
// allreduce has succeeded.
braidResult_t allReduceUntilFailure(braidComm_t comm, size_t count, std::chrono::seconds limit,
                                    int64_t* ms, const std::function<void()>& afterFirst = {}) {
  std::vector<float> send(count, 1.0f), recv(count, 0.0f);
  Clock::time_point begin = Clock::now();
  for (bool first = true; Clock::now() - begin < limit; first = false) {
    Clock::time_point start = Clock::now();
    braidResult_t rc =
        braidAllReduce(send.data(), recv.data(), count, braidFloat, braidSum, comm, nullptr);
    *ms = msSince(start);
    if (rc != braidSuccess) return rc;
    if (first && afterFirst) afterFirst();
  }
  return braidSuccess;
}

int envInt(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: fault_worker "
                 "kill|mismatch|eager|eager-loop|window|silent|rendezvous|stopped\n");
    return 2;
  }
  const std::string scenario = argv[1];
  int rank = envInt("RANK");

  Clock::time_point initStart = Clock::now();
  braidComm_t comm = nullptr;
  braidResult_t initRc = braidCommInitFromEnv(&comm, nullptr);
  int64_t initMs = msSince(initStart);
  if (scenario == "rendezvous") {
    std::string msg = braidGetLastError(nullptr);
    // "ranks 2 of 3 did not arrive", "rank 2 is missing": rank 2, as missing.
    bool namesRank2 = braid::test::mentionsRank(msg, 2) &&
                      (contains(msg, "did not arrive") || contains(msg, "missing"));
    bool ok = initRc != braidSuccess && comm == nullptr && namesRank2 && initMs < 5000;
    return report(rank, initRc, initMs, msg, ok);
  }
  if (initRc != braidSuccess) {
    return report(rank, initRc, initMs, braidGetLastError(nullptr), false);
  }

  braidResult_t rc = braidSuccess;
  int64_t ms = 0;
  bool ok = false;
  if (scenario == "kill") {
    auto startKillClock = [] {
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        kill(getpid(), SIGKILL);
      }).detach();
    };
    int bytes = envInt("BRAID_FAULT_KILL_BYTES");
    size_t count = (bytes > 0 ? static_cast<size_t>(bytes) : 32u << 20) / sizeof(float);
    rc = allReduceUntilFailure(comm, count, std::chrono::seconds(60), &ms,
                               rank == 2 ? startKillClock : std::function<void()>());
    ok = rank != 2 && rc == braidRemoteError;
  } else if (scenario == "mismatch" || scenario == "eager" || scenario == "eager-loop") {
    // mismatch: rank 1 broadcasts from rank 0. eager: rank 0 broadcasts as the root, then (if
    // that returned before it heard of the mismatch) calls allreduce as the others did.
    // eager-loop: rank 0 broadcasts until a call fails.
    constexpr int kMaxCallsAhead = static_cast<int>(braid::Comm::kHeaderWindow);
    bool loop = scenario == "eager-loop";
    bool eager = scenario == "eager" || loop;
    size_t count = eager ? 8 : 1000;
    std::vector<float> send(count, 1.0f), recv(count, 0.0f);
    auto allReduce = [&] {
      return braidAllReduce(send.data(), recv.data(), count, braidFloat, braidSum, comm, nullptr);
    };
    Clock::time_point start = Clock::now();
    int calls = 0;
    if (rank == (eager ? 0 : 1)) {
      do {
        rc = braidBroadcast(send.data(), recv.data(), count, braidFloat, 0, comm, nullptr);
        ++calls;
      } while (loop && rc == braidSuccess && calls < 2 * kMaxCallsAhead);
      if (scenario == "eager" && rc == braidSuccess) rc = allReduce();
    } else {
      rc = allReduce();
    }
    ms = msSince(start);
    std::string msg = braidGetLastError(comm);
    ok = rc == braidInvalidUsage && contains(msg, "braidBroadcast") &&
         contains(msg, "braidAllReduce") && calls <= kMaxCallsAhead + 1;
    if (calls > kMaxCallsAhead + 1)
      std::printf("rank %d: %d broadcasts before one failed\n", rank, calls);
  } else if (scenario == "window") {
    constexpr int kWindow = static_cast<int>(braid::Comm::kHeaderWindow);
    std::vector<float> data(8, 1.0f);
    auto broadcast = [&] {
      return braidBroadcast(data.data(), data.data(), data.size(), braidFloat, 0, comm, nullptr);
    };
    rc = broadcast();  // both ranks connected, and rank 1's header for it sent
    int early = 0;
    if (rc == braidSuccess && rank == 0) {
      Clock::time_point start = Clock::now();
      for (int call = 0; call < kWindow + 8 && rc == braidSuccess; ++call) {
        rc = broadcast();
        if (msSince(start) < 1000) ++early;
      }
      ms = msSince(start);
      if (early != kWindow) std::printf("rank 0: %d broadcasts returned within 1 s\n", early);
    } else if (rc == braidSuccess) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1500));
      for (int call = 0; call < kWindow + 8 && rc == braidSuccess; ++call)
        rc = broadcast();
    }
    ok = rc == braidSuccess && (rank != 0 || early == kWindow);
  } else if (scenario == "silent") {
    if (rank == 2) {
      std::this_thread::sleep_for(std::chrono::seconds(6));
      ok = true;  // whatever the communicator says now is not this scenario's concern
    } else {
      std::vector<float> send(1000, 1.0f), recv(1000, 0.0f);
      Clock::time_point start = Clock::now();
      rc = braidAllReduce(send.data(), recv.data(), 1000, braidFloat, braidSum, comm, nullptr);
      ms = msSince(start);
      ok = rc == braidTimeout && ms < 4000 && braid::test::mentionsRank(braidGetLastError(comm), 2);
    }
  } else if (scenario == "stopped") {
    std::printf("ready\n");
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    rc = allReduceUntilFailure(comm, 1 << 18, std::chrono::seconds(30), &ms);
    ok = rank != 1 && (rc == braidTimeout || rc == braidRemoteError) &&
         braid::test::mentionsRank(braidGetLastError(comm), 1);
  } else {
    std::fprintf(stderr, "fault_worker: unknown scenario '%s'\n", scenario.c_str());
    return 2;
  }
  std::string msg = braidGetLastError(comm);
  int exitCode = report(rank, rc, ms, msg, ok);
  braidCommDestroy(comm);
  return exitCode;
}
