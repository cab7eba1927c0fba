// Ending a wait that will never be satisfied, with ranks as threads. braidCommAbort from a third
// thread ends a lone allreduce within a second, with a message that says it was aborted. A
// communicator made with config timeoutMs = 500 gives up on a silent peer with braidTimeout,
// names that peer, and reports the failure through braidCommGetAsyncError.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "collectives/braid.h"

namespace braid::test {
namespace {

using Clock = std::chrono::steady_clock;

int64_t msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

TEST(Abort, LoneAllReduceEndsWithinASecondOfAbortFromAnotherThread) {
  // Long enough that only the abort can end the wait.
  setenv("BRAID_TIMEOUT_MS", "30000", 1);
  braidComm_t comms[2] = {nullptr, nullptr};
  ASSERT_EQ(braidCommInitAll(comms, 2, nullptr), braidSuccess) << braidGetLastError(nullptr);

  std::vector<float> send(1 << 20, 1.0f), recv(1 << 20, 0.0f);
  braidResult_t rc = braidSuccess;
  std::string message;
  Clock::time_point returned{};
  // Rank 0 calls alone; rank 1 never calls.
  std::thread rank0([&] {
    rc = braidAllReduce(send.data(), recv.data(), send.size(), braidFloat, braidSum, comms[0],
                        nullptr);
    returned = Clock::now();
    message = braidGetLastError(comms[0]);
  });
  Clock::time_point abortedAt{};
  braidResult_t abortRc = braidInternalError;
  std::thread aborter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    abortedAt = Clock::now();
    abortRc = braidCommAbort(comms[0]);
  });
  aborter.join();
  rank0.join();

  EXPECT_EQ(abortRc, braidSuccess) << braidGetLastError(nullptr);
  EXPECT_NE(rc, braidSuccess) << "the allreduce of a lone rank succeeded";
  EXPECT_NE(rc, braidTimeout) << "ended by the timeout, not the abort: " << message;
  int64_t ms = msBetween(abortedAt, returned);
  EXPECT_GE(ms, 0) << "the allreduce returned before the abort: " << message;
  EXPECT_LT(ms, 1000) << "the allreduce returned " << ms << " ms after braidCommAbort";
  EXPECT_NE(message.find("abort"), std::string::npos)
      << "braidGetLastError after the aborted call: '" << message << "'";
  // The aborted communicator is freed: its handle is refused from now on.
  int count = 0;
  EXPECT_EQ(braidCommCount(comms[0], &count), braidInvalidArgument);
  EXPECT_EQ(braidCommDestroy(comms[1]), braidSuccess) << braidGetLastError(comms[1]);
}

TEST(Abort, AbortOfAnIdleCommunicatorFreesIt) {
  setenv("BRAID_TIMEOUT_MS", "30000", 1);
  braidComm_t comms[2] = {nullptr, nullptr};
  ASSERT_EQ(braidCommInitAll(comms, 2, nullptr), braidSuccess) << braidGetLastError(nullptr);
  Clock::time_point start = Clock::now();
  EXPECT_EQ(braidCommAbort(comms[0]), braidSuccess) << braidGetLastError(nullptr);
  EXPECT_EQ(braidCommAbort(comms[1]), braidSuccess) << braidGetLastError(nullptr);
  EXPECT_LT(msBetween(start, Clock::now()), 1000);
  int count = 0;
  EXPECT_EQ(braidCommCount(comms[0], &count), braidInvalidArgument);
  EXPECT_EQ(braidCommCount(comms[1], &count), braidInvalidArgument);
}

TEST(Timeout, ConfigTimeoutEndsWaitForSilentPeerNamingIt) {
  // The environment's limit is long: only the config's 500 ms can end the wait in time.
  setenv("BRAID_TIMEOUT_MS", "30000", 1);
  braidUniqueId id;
  ASSERT_EQ(braidGetUniqueId(&id), braidSuccess) << braidGetLastError(nullptr);
  braidConfig_t config = BRAID_CONFIG_INITIALIZER;
  config.timeoutMs = 500;
  braidComm_t comms[2] = {nullptr, nullptr};
  braidResult_t initRc[2] = {braidInternalError, braidInternalError};
  std::string initMessage[2];
  {
    std::vector<std::thread> ranks;
    for (int r = 0; r < 2; ++r) {
      ranks.emplace_back([&, r] {
        initRc[r] = braidCommInitRankConfig(&comms[r], 2, id, r, &config);
        initMessage[r] = braidGetLastError(nullptr);
      });
    }
    for (std::thread& t : ranks)
      t.join();
  }
  ASSERT_EQ(initRc[0], braidSuccess) << initMessage[0];
  ASSERT_EQ(initRc[1], braidSuccess) << initMessage[1];

  // Rank 0 calls; rank 1 never does.
  std::vector<float> send(1000, 1.0f), recv(1000, 0.0f);
  Clock::time_point start = Clock::now();
  braidResult_t rc = braidAllReduce(send.data(), recv.data(), send.size(), braidFloat, braidSum,
                                    comms[0], nullptr);
  int64_t ms = msBetween(start, Clock::now());
  std::string message = braidGetLastError(comms[0]);
  EXPECT_EQ(rc, braidTimeout) << message;
  EXPECT_GE(ms, 500) << "gave up before the 500 ms limit: " << message;
  EXPECT_LT(ms, 2000) << "took " << ms << " ms for a 500 ms limit: " << message;
  EXPECT_NE(message.find("rank 1"), std::string::npos) << message;

  braidResult_t async = braidSuccess;
  EXPECT_EQ(braidCommGetAsyncError(comms[0], &async), braidSuccess);
  EXPECT_EQ(async, braidTimeout);
  // The failed communicator refuses further work with the same code, at once.
  start = Clock::now();
  EXPECT_EQ(braidAllReduce(send.data(), recv.data(), send.size(), braidFloat, braidSum, comms[0],
                           nullptr),
            braidTimeout);
  EXPECT_LT(msBetween(start, Clock::now()), 100);
  for (braidComm_t c : comms)
    EXPECT_EQ(braidCommDestroy(c), braidSuccess) << braidGetLastError(c);
}

}  // namespace
}  // namespace braid::test
