// braidGroupStart/braidGroupEnd with ranks as threads: exchanges that would deadlock one call at a
// time (a 3 MiB ring shift both ways, alltoall by hand) complete inside a group with exact data;
// send/receive to oneself pair up in a group; nested groups run only at the outermost end; a
// collective can sit in a group; one thread can drive every communicator of braidCommInitAll in
// one group; and a send whose count differs from its receive fails on the receiver naming both.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "support/thread_ranks.h"

namespace braid::test {
namespace {

// Every rank returns 1 when its body ran to the end; anything else means init failed or a
// fatal check stopped it.
void expectAllRan(const std::vector<int>& ran) {
  for (size_t r = 0; r < ran.size(); ++r)
    EXPECT_EQ(ran[r], 1) << "rank " << r << " did not run to the end";
}

class Groups : public ::testing::Test {
 protected:
  // No transfer here stalls for seconds: a wait this long without a byte moving is a bug.
  void SetUp() override { setenv("BRAID_TIMEOUT_MS", "5000", 1); }
};

class GroupRingShift : public ::testing::TestWithParam<int> {
 protected:
  // No transfer here stalls for seconds: a wait this long without a byte moving is a bug.
  void SetUp() override { setenv("BRAID_TIMEOUT_MS", "5000", 1); }
};

// Each rank sends 3 MiB to its next and another 3 MiB to its previous rank, and receives both,
// all in one group. Far more than a socket buffer: one call at a time, every rank would sit in
// its first send.
TEST_P(GroupRingShift, BothDirectionsAtOnceCompleteExactly) {
  int n = GetParam();
  constexpr size_t kElems = (3u << 20) / sizeof(int32_t);
  auto forward = [](int rank, size_t i) { return static_cast<int32_t>(rank * 1000000 + i); };
  auto backward = [](int rank, size_t i) { return -static_cast<int32_t>(rank * 1000000 + i) - 1; };
  expectAllRan(runRanks<int>(n, [&](braidComm_t comm, int rank) {
    int next = (rank + 1) % n, prev = (rank + n - 1) % n;
    std::vector<int32_t> toNext(kElems), toPrev(kElems), fromPrev(kElems, 7), fromNext(kElems, 7);
    for (size_t i = 0; i < kElems; ++i) {
      toNext[i] = forward(rank, i);
      toPrev[i] = backward(rank, i);
    }
    // With two ranks next == prev: messages between a pair match in the order they were posted,
    // so the first send (forward) meets the first receive (from prev).
    EXPECT_EQ(braidGroupStart(), braidSuccess);
    EXPECT_EQ(braidSend(toNext.data(), kElems, braidInt32, next, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidSend(toPrev.data(), kElems, braidInt32, prev, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidRecv(fromPrev.data(), kElems, braidInt32, prev, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidRecv(fromNext.data(), kElems, braidInt32, next, comm, nullptr), braidSuccess);
    braidResult_t rc = braidGroupEnd();
    EXPECT_EQ(rc, braidSuccess) << braidGetLastError(nullptr) << " / " << braidGetLastError(comm);
    if (rc != braidSuccess) return 0;
    for (size_t i = 0; i < kElems; ++i) {
      if (fromPrev[i] != forward(prev, i) || fromNext[i] != backward(next, i)) {
        ADD_FAILURE() << "rank " << rank << " element " << i << ": from prev " << fromPrev[i]
                      << " (want " << forward(prev, i) << "), from next " << fromNext[i]
                      << " (want " << backward(next, i) << ")";
        return 0;
      }
    }
    return 1;
  }));
}

INSTANTIATE_TEST_SUITE_P(Ranks, GroupRingShift, ::testing::Values(2, 3, 4),
                         [](const auto& info) { return std::to_string(info.param) + "ranks"; });

TEST_F(Groups, TwoMessagesBetweenOnePairInOneGroupMatchInOrder) {
  expectAllRan(runRanks<int>(2, [](braidComm_t comm, int rank) {
    int peer = 1 - rank;
    std::vector<int32_t> first(100, rank * 10 + 1), second(100, rank * 10 + 2);
    std::vector<int32_t> gotFirst(100, -1), gotSecond(100, -1);
    EXPECT_EQ(braidGroupStart(), braidSuccess);
    EXPECT_EQ(braidSend(first.data(), 100, braidInt32, peer, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidSend(second.data(), 100, braidInt32, peer, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidRecv(gotFirst.data(), 100, braidInt32, peer, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidRecv(gotSecond.data(), 100, braidInt32, peer, comm, nullptr), braidSuccess);
    braidResult_t rc = braidGroupEnd();
    EXPECT_EQ(rc, braidSuccess) << braidGetLastError(nullptr);
    if (rc != braidSuccess) return 0;
    EXPECT_EQ(gotFirst, std::vector<int32_t>(100, peer * 10 + 1));
    EXPECT_EQ(gotSecond, std::vector<int32_t>(100, peer * 10 + 2));
    return 1;
  }));
}

TEST_F(Groups, AlltoAllBySendRecvIsExact) {
  constexpr int kRanks = 4;
  constexpr size_t kBlock = 40000;  // 160 KB per pair
  auto value = [](int from, int to, size_t i) {
    return static_cast<int32_t>(from * 10000000 + to * 1000000 + static_cast<int>(i));
  };
  expectAllRan(runRanks<int>(kRanks, [&](braidComm_t comm, int rank) {
    std::vector<int32_t> send(kBlock * kRanks), recv(kBlock * kRanks, -1);
    for (int to = 0; to < kRanks; ++to) {
      for (size_t i = 0; i < kBlock; ++i)
        send[static_cast<size_t>(to) * kBlock + i] = value(rank, to, i);
    }
    EXPECT_EQ(braidGroupStart(), braidSuccess);
    for (int p = 0; p < kRanks; ++p) {
      EXPECT_EQ(braidSend(send.data() + p * kBlock, kBlock, braidInt32, p, comm, nullptr),
                braidSuccess);
      EXPECT_EQ(braidRecv(recv.data() + p * kBlock, kBlock, braidInt32, p, comm, nullptr),
                braidSuccess);
    }
    braidResult_t rc = braidGroupEnd();
    EXPECT_EQ(rc, braidSuccess) << braidGetLastError(nullptr);
    if (rc != braidSuccess) return 0;
    for (int from = 0; from < kRanks; ++from) {
      for (size_t i = 0; i < kBlock; ++i) {
        int32_t got = recv[static_cast<size_t>(from) * kBlock + i];
        if (got != value(from, rank, i)) {
          ADD_FAILURE() << "rank " << rank << ": block from " << from << " element " << i << " is "
                        << got << ", want " << value(from, rank, i);
          return 0;
        }
      }
    }
    return 1;
  }));
}

TEST_F(Groups, SendRecvToSelfPairUpInAGroup) {
  for (int n : {1, 2}) {
    SCOPED_TRACE(std::to_string(n) + " ranks");
    expectAllRan(runRanks<int>(n, [](braidComm_t comm, int rank) {
      std::vector<double> a(1000), b(1000), gotA(1000, -1), gotB(1000, -1);
      for (size_t i = 0; i < a.size(); ++i) {
        a[i] = rank * 1e6 + static_cast<double>(i);
        b[i] = -a[i];
      }
      // Two messages to oneself match their receives in order.
      EXPECT_EQ(braidGroupStart(), braidSuccess);
      EXPECT_EQ(braidSend(a.data(), a.size(), braidDouble, rank, comm, nullptr), braidSuccess);
      EXPECT_EQ(braidSend(b.data(), b.size(), braidDouble, rank, comm, nullptr), braidSuccess);
      EXPECT_EQ(braidRecv(gotA.data(), a.size(), braidDouble, rank, comm, nullptr), braidSuccess);
      EXPECT_EQ(braidRecv(gotB.data(), b.size(), braidDouble, rank, comm, nullptr), braidSuccess);
      braidResult_t rc = braidGroupEnd();
      EXPECT_EQ(rc, braidSuccess) << braidGetLastError(nullptr);
      if (rc != braidSuccess) return 0;
      EXPECT_EQ(gotA, a);
      EXPECT_EQ(gotB, b);
      return 1;
    }));
  }
}

TEST_F(Groups, NestedGroupsRunOnlyAtTheOutermostEnd) {
  constexpr int kRanks = 2;
  expectAllRan(runRanks<int>(kRanks, [](braidComm_t comm, int rank) {
    int peer = 1 - rank;
    std::vector<int32_t> mine(5000, rank + 100), theirs(5000, -1), self(5000, -1);
    EXPECT_EQ(braidGroupStart(), braidSuccess);
    EXPECT_EQ(braidSend(mine.data(), mine.size(), braidInt32, peer, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidGroupStart(), braidSuccess);
    EXPECT_EQ(braidRecv(theirs.data(), theirs.size(), braidInt32, peer, comm, nullptr),
              braidSuccess);
    EXPECT_EQ(braidSend(mine.data(), mine.size(), braidInt32, rank, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidRecv(self.data(), self.size(), braidInt32, rank, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidGroupEnd(), braidSuccess) << braidGetLastError(nullptr);
    // The inner end ran nothing: not even the copy to oneself has happened.
    EXPECT_EQ(self[0], -1) << "the inner braidGroupEnd ran the queued operations";
    EXPECT_EQ(theirs[0], -1) << "the inner braidGroupEnd ran the queued operations";
    braidResult_t rc = braidGroupEnd();
    EXPECT_EQ(rc, braidSuccess) << braidGetLastError(nullptr);
    if (rc != braidSuccess) return 0;
    EXPECT_EQ(theirs, std::vector<int32_t>(5000, peer + 100));
    EXPECT_EQ(self, mine);
    return 1;
  }));
}

TEST_F(Groups, CollectiveInsideAGroupRunsAtEndWithPointToPoint) {
  constexpr int kRanks = 3;
  expectAllRan(runRanks<int>(kRanks, [](braidComm_t comm, int rank) {
    int next = (rank + 1) % kRanks, prev = (rank + kRanks - 1) % kRanks;
    std::vector<float> send(10000, static_cast<float>(rank + 1)), sum(10000, -1.0f);
    std::vector<int32_t> out(100, rank), in(100, -1);
    EXPECT_EQ(braidGroupStart(), braidSuccess);
    EXPECT_EQ(
        braidAllReduce(send.data(), sum.data(), send.size(), braidFloat, braidSum, comm, nullptr),
        braidSuccess)
        << braidGetLastError(comm);
    EXPECT_EQ(sum[0], -1.0f) << "the allreduce ran before braidGroupEnd";
    EXPECT_EQ(braidSend(out.data(), out.size(), braidInt32, next, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidRecv(in.data(), in.size(), braidInt32, prev, comm, nullptr), braidSuccess);
    braidResult_t rc = braidGroupEnd();
    EXPECT_EQ(rc, braidSuccess) << braidGetLastError(nullptr);
    if (rc != braidSuccess) return 0;
    EXPECT_EQ(sum, std::vector<float>(10000, 6.0f));
    EXPECT_EQ(in, std::vector<int32_t>(100, prev));
    return 1;
  }));
}

TEST_F(Groups, OneThreadDrivesEveryCommOfInitAllInOneGroup) {
  constexpr int kRanks = 4;
  constexpr size_t kCount = 100000;
  std::vector<braidComm_t> comms(kRanks);
  ASSERT_EQ(braidCommInitAll(comms.data(), kRanks, nullptr), braidSuccess)
      << braidGetLastError(nullptr);
  std::vector<std::vector<int64_t>> send(kRanks), recv(kRanks);
  for (int r = 0; r < kRanks; ++r) {
    send[r].assign(kCount, 0);
    for (size_t i = 0; i < kCount; ++i)
      send[r][i] = static_cast<int64_t>(r + 1) * static_cast<int64_t>(i);
    recv[r].assign(kCount, -1);
  }
  ASSERT_EQ(braidGroupStart(), braidSuccess);
  for (int r = 0; r < kRanks; ++r) {
    EXPECT_EQ(braidAllReduce(send[r].data(), recv[r].data(), kCount, braidInt64, braidSum, comms[r],
                             nullptr),
              braidSuccess)
        << braidGetLastError(comms[r]);
  }
  EXPECT_EQ(braidGroupEnd(), braidSuccess) << braidGetLastError(nullptr);
  for (int r = 0; r < kRanks; ++r) {
    for (size_t i = 0; i < kCount; ++i) {
      ASSERT_EQ(recv[r][i], 10 * static_cast<int64_t>(i)) << "rank " << r << " element " << i;
    }
  }
  // Then a ring shift between the ranks, still from this one thread.
  std::vector<int32_t> out(kRanks), in(kRanks, -1);
  ASSERT_EQ(braidGroupStart(), braidSuccess);
  for (int r = 0; r < kRanks; ++r) {
    out[r] = 1000 + r;
    EXPECT_EQ(braidSend(&out[r], 1, braidInt32, (r + 1) % kRanks, comms[r], nullptr), braidSuccess);
    EXPECT_EQ(braidRecv(&in[r], 1, braidInt32, (r + kRanks - 1) % kRanks, comms[r], nullptr),
              braidSuccess);
  }
  EXPECT_EQ(braidGroupEnd(), braidSuccess) << braidGetLastError(nullptr);
  for (int r = 0; r < kRanks; ++r)
    EXPECT_EQ(in[r], 1000 + (r + kRanks - 1) % kRanks) << "rank " << r;
  for (braidComm_t c : comms)
    EXPECT_EQ(braidCommDestroy(c), braidSuccess);
}

TEST_F(Groups, SendCountDifferentFromRecvFailsOnReceiverNamingBoth) {
  expectAllRan(runRanks<int>(2, [](braidComm_t comm, int rank) {
    std::vector<float> buf(20, 1.0f);
    if (rank == 0) {
      // The sender may finish before the receiver notices; its result is not the point.
      braidSend(buf.data(), 10, braidFloat, 1, comm, nullptr);
      return 1;
    }
    braidResult_t rc = braidRecv(buf.data(), 20, braidFloat, 0, comm, nullptr);
    std::string message = braidGetLastError(comm);
    EXPECT_EQ(rc, braidInvalidUsage) << message;
    EXPECT_NE(message.find("braidSend"), std::string::npos) << message;
    EXPECT_NE(message.find("braidRecv"), std::string::npos) << message;
    EXPECT_NE(message.find("10"), std::string::npos) << "the send's count: " << message;
    EXPECT_NE(message.find("20"), std::string::npos) << "the receive's count: " << message;
    return 1;
  }));
}

TEST_F(Groups, SendCountDifferentFromRecvInAGroupFailsOnReceiverNamingBoth) {
  expectAllRan(runRanks<int>(2, [](braidComm_t comm, int rank) {
    std::vector<float> buf(20, 1.0f), other(20, 2.0f);
    int peer = 1 - rank;
    EXPECT_EQ(braidGroupStart(), braidSuccess);
    // Both ranks send 20 elements; rank 1 expects only 12 of them.
    EXPECT_EQ(braidSend(other.data(), 20, braidFloat, peer, comm, nullptr), braidSuccess);
    EXPECT_EQ(braidRecv(buf.data(), rank == 1 ? 12 : 20, braidFloat, peer, comm, nullptr),
              braidSuccess);
    braidResult_t rc = braidGroupEnd();
    if (rank == 0) return 1;
    // braidGroupEnd takes no communicator: its message is this thread's last error.
    std::string message = braidGetLastError(nullptr);
    EXPECT_EQ(rc, braidInvalidUsage) << message;
    EXPECT_NE(message.find("braidSend"), std::string::npos) << message;
    EXPECT_NE(message.find("braidRecv"), std::string::npos) << message;
    braidResult_t async = braidSuccess;
    EXPECT_EQ(braidCommGetAsyncError(comm, &async), braidSuccess);
    EXPECT_EQ(async, braidInvalidUsage);
    return 1;
  }));
}

}  // namespace
}  // namespace braid::test
