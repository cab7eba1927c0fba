// Bad arguments at the C boundary, with 1 and 2 ranks as threads: every collective and
// send/receive rejects NULL buffers, bad types and ops, out-of-range roots and peers, overflowing
// counts and overlapping buffers with braidInvalidArgument; bad call sequences give
// braidInvalidUsage; NULL and destroyed communicators and bad init arguments are refused without a
// crash. Each rejection's braidGetLastError names the problem, and afterwards a correct allreduce
// on the same communicator still gives the right result (bad input corrupts nothing).
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "raw_enum_calls.h"
#include "support/thread_ranks.h"

namespace braid::test {
namespace {

// Values outside the enums, passed as a C caller can (see raw_enum_calls.h).
constexpr int kBadTypes[] = {99, -1, braidNumTypes};
constexpr int kBadOps[] = {99, -1, braidNumOps};
constexpr size_t kCount = 16;

// Expects `code` to be `want`, and the last error of `comm` (NULL: of this thread) to be non-empty
// and to contain every word of `words`.
void expectRejected(const char* what, braidResult_t code, braidResult_t want, braidComm_t comm,
                    std::initializer_list<const char*> words) {
  std::string message = braidGetLastError(comm);
  EXPECT_EQ(code, want) << what << ": got " << braidGetErrorString(code) << " (" << message << ")";
  EXPECT_FALSE(message.empty()) << what << ": braidGetLastError is empty";
  for (const char* w : words) {
    EXPECT_NE(message.find(w), std::string::npos)
        << what << ": braidGetLastError does not mention '" << w << "': " << message;
  }
}

void expectInvalidArgument(const char* what, braidResult_t code, braidComm_t comm,
                           std::initializer_list<const char*> words) {
  expectRejected(what, code, braidInvalidArgument, comm, words);
}

// A correct float sum allreduce over comm: every element must come back as the sum over ranks of
// (rank + 1) * (i + 1). Returns true when it succeeded with the right values.
bool allReduceStillWorks(braidComm_t comm) {
  int n = 0, rank = -1;
  EXPECT_EQ(braidCommCount(comm, &n), braidSuccess);
  EXPECT_EQ(braidCommUserRank(comm, &rank), braidSuccess);
  std::vector<float> send(1000), recv(1000, -1.0f);
  for (size_t i = 0; i < send.size(); ++i)
    send[i] = static_cast<float>((rank + 1) * static_cast<int>(i + 1));
  braidResult_t rc =
      braidAllReduce(send.data(), recv.data(), send.size(), braidFloat, braidSum, comm, nullptr);
  EXPECT_EQ(rc, braidSuccess) << "a correct allreduce after bad calls failed: "
                              << braidGetLastError(comm);
  if (rc != braidSuccess) return false;
  int rankSum = n * (n + 1) / 2;
  for (size_t i = 0; i < recv.size(); ++i) {
    float want = static_cast<float>(rankSum * static_cast<int>(i + 1));
    if (recv[i] != want) {
      ADD_FAILURE() << "allreduce after bad calls: element " << i << " is " << recv[i] << ", want "
                    << want;
      return false;
    }
  }
  return true;
}

// Runs body on every rank of an n-rank communicator, then the correct allreduce; fails the test
// when a rank did not run (init failed) or the allreduce went wrong.
void runThenCheckUsable(int n, const std::function<void(braidComm_t, int, int)>& body) {
  auto ok = runRanks<int>(n, [&](braidComm_t comm, int rank) {
    body(comm, rank, n);
    return allReduceStillWorks(comm) ? 1 : 0;
  });
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(ok[static_cast<size_t>(r)], 1) << "rank " << r << " did not end usable";
}

class BadArguments : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    // A bad call that slipped through would wait for the other rank: bound that wait.
    setenv("BRAID_TIMEOUT_MS", "10000", 1);
  }
};

TEST_P(BadArguments, NullBufferWithElementsIsInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int rank, int n) {
    std::vector<float> a(kCount * n), b(kCount * n);
    expectInvalidArgument(
        "allreduce NULL sendbuff",
        braidAllReduce(nullptr, b.data(), kCount, braidFloat, braidSum, comm, nullptr), comm,
        {"braidAllReduce", "sendbuff", "NULL"});
    expectInvalidArgument(
        "allreduce NULL recvbuff",
        braidAllReduce(a.data(), nullptr, kCount, braidFloat, braidSum, comm, nullptr), comm,
        {"braidAllReduce", "recvbuff", "NULL"});
    expectInvalidArgument("broadcast NULL recvbuff",
                          braidBroadcast(a.data(), nullptr, kCount, braidFloat, 0, comm, nullptr),
                          comm, {"braidBroadcast", "recvbuff", "NULL"});
    // sendbuff is read on the root only, so only the root can reject a NULL one.
    if (rank == 0) {
      expectInvalidArgument("broadcast NULL sendbuff on the root",
                            braidBroadcast(nullptr, b.data(), kCount, braidFloat, 0, comm, nullptr),
                            comm, {"braidBroadcast", "sendbuff", "NULL"});
      expectInvalidArgument(
          "reduce NULL recvbuff on the root",
          braidReduce(a.data(), nullptr, kCount, braidFloat, braidSum, 0, comm, nullptr), comm,
          {"braidReduce", "recvbuff", "NULL"});
    }
    expectInvalidArgument(
        "reduce NULL sendbuff",
        braidReduce(nullptr, b.data(), kCount, braidFloat, braidSum, 0, comm, nullptr), comm,
        {"braidReduce", "sendbuff", "NULL"});
    expectInvalidArgument("allgather NULL sendbuff",
                          braidAllGather(nullptr, b.data(), kCount, braidFloat, comm, nullptr),
                          comm, {"braidAllGather", "sendbuff", "NULL"});
    expectInvalidArgument("allgather NULL recvbuff",
                          braidAllGather(a.data(), nullptr, kCount, braidFloat, comm, nullptr),
                          comm, {"braidAllGather", "recvbuff", "NULL"});
    expectInvalidArgument(
        "reducescatter NULL sendbuff",
        braidReduceScatter(nullptr, b.data(), kCount, braidFloat, braidSum, comm, nullptr), comm,
        {"braidReduceScatter", "sendbuff", "NULL"});
    expectInvalidArgument(
        "reducescatter NULL recvbuff",
        braidReduceScatter(a.data(), nullptr, kCount, braidFloat, braidSum, comm, nullptr), comm,
        {"braidReduceScatter", "recvbuff", "NULL"});
    expectInvalidArgument("alltoall NULL sendbuff",
                          braidAlltoAll(nullptr, b.data(), kCount, braidFloat, comm, nullptr), comm,
                          {"braidAlltoAll", "sendbuff", "NULL"});
    expectInvalidArgument("alltoall NULL recvbuff",
                          braidAlltoAll(a.data(), nullptr, kCount, braidFloat, comm, nullptr), comm,
                          {"braidAlltoAll", "recvbuff", "NULL"});
    int peer = (rank + 1) % n;
    expectInvalidArgument("send NULL", braidSend(nullptr, kCount, braidFloat, peer, comm, nullptr),
                          comm, {"braidSend", "NULL"});
    expectInvalidArgument("recv NULL", braidRecv(nullptr, kCount, braidFloat, peer, comm, nullptr),
                          comm, {"braidRecv", "NULL"});
  });
}

TEST_P(BadArguments, NullBuffersWithZeroElementsAreAccepted) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int, int) {
    EXPECT_EQ(braidAllReduce(nullptr, nullptr, 0, braidFloat, braidSum, comm, nullptr),
              braidSuccess)
        << braidGetLastError(comm);
    EXPECT_EQ(braidAllGather(nullptr, nullptr, 0, braidFloat, comm, nullptr), braidSuccess)
        << braidGetLastError(comm);
    EXPECT_EQ(braidBroadcast(nullptr, nullptr, 0, braidFloat, 0, comm, nullptr), braidSuccess)
        << braidGetLastError(comm);
  });
}

TEST_P(BadArguments, ReduceAcceptsNullRecvbuffAwayFromTheRoot) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int rank, int n) {
    std::vector<int32_t> send(kCount, rank + 1), recv(kCount, -1);
    int root = n - 1;
    void* out = rank == root ? recv.data() : nullptr;
    ASSERT_EQ(braidReduce(send.data(), out, kCount, braidInt32, braidSum, root, comm, nullptr),
              braidSuccess)
        << braidGetLastError(comm);
    if (rank == root) {
      for (size_t i = 0; i < kCount; ++i)
        ASSERT_EQ(recv[i], n * (n + 1) / 2) << "element " << i;
    }
  });
}

TEST_P(BadArguments, InvalidDatatypeIsInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int rank, int n) {
    std::vector<float> a(kCount * n), b(kCount * n);
    int peer = (rank + 1) % n;
    int sum = braidSum;
    for (int t : kBadTypes) {
      expectInvalidArgument("allreduce bad datatype",
                            rawAllReduce(a.data(), b.data(), kCount, t, sum, comm), comm,
                            {"braidAllReduce", "datatype"});
      expectInvalidArgument("broadcast bad datatype",
                            rawBroadcast(a.data(), b.data(), kCount, t, 0, comm), comm,
                            {"braidBroadcast", "datatype"});
      expectInvalidArgument("reduce bad datatype",
                            rawReduce(a.data(), b.data(), kCount, t, sum, 0, comm), comm,
                            {"braidReduce", "datatype"});
      expectInvalidArgument("allgather bad datatype", rawAllGather(a.data(), b.data(), 1, t, comm),
                            comm, {"braidAllGather", "datatype"});
      expectInvalidArgument("reducescatter bad datatype",
                            rawReduceScatter(a.data(), b.data(), 1, t, sum, comm), comm,
                            {"braidReduceScatter", "datatype"});
      expectInvalidArgument("alltoall bad datatype", rawAlltoAll(a.data(), b.data(), 1, t, comm),
                            comm, {"braidAlltoAll", "datatype"});
      expectInvalidArgument("send bad datatype", rawSend(a.data(), kCount, t, peer, comm), comm,
                            {"braidSend", "datatype"});
      expectInvalidArgument("recv bad datatype", rawRecv(b.data(), kCount, t, peer, comm), comm,
                            {"braidRecv", "datatype"});
    }
  });
}

TEST_P(BadArguments, InvalidReductionOpIsInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int, int n) {
    std::vector<float> a(kCount * n), b(kCount * n);
    int type = braidFloat;
    for (int op : kBadOps) {
      expectInvalidArgument("allreduce bad op",
                            rawAllReduce(a.data(), b.data(), kCount, type, op, comm), comm,
                            {"braidAllReduce", "op"});
      expectInvalidArgument("reduce bad op",
                            rawReduce(a.data(), b.data(), kCount, type, op, 0, comm), comm,
                            {"braidReduce", "op"});
      expectInvalidArgument("reducescatter bad op",
                            rawReduceScatter(a.data(), b.data(), 1, type, op, comm), comm,
                            {"braidReduceScatter", "op"});
    }
  });
}

TEST_P(BadArguments, RootOrPeerOutOfRangeIsInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int, int n) {
    std::vector<float> a(kCount), b(kCount);
    for (int bad : {-1, n, n + 5}) {
      expectInvalidArgument(
          "broadcast root out of range",
          braidBroadcast(a.data(), b.data(), kCount, braidFloat, bad, comm, nullptr), comm,
          {"braidBroadcast", "root"});
      expectInvalidArgument(
          "reduce root out of range",
          braidReduce(a.data(), b.data(), kCount, braidFloat, braidSum, bad, comm, nullptr), comm,
          {"braidReduce", "root"});
      expectInvalidArgument("send peer out of range",
                            braidSend(a.data(), kCount, braidFloat, bad, comm, nullptr), comm,
                            {"braidSend", "peer"});
      expectInvalidArgument("recv peer out of range",
                            braidRecv(b.data(), kCount, braidFloat, bad, comm, nullptr), comm,
                            {"braidRecv", "peer"});
    }
  });
}

TEST_P(BadArguments, CountThatOverflowsIsInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int rank, int n) {
    std::vector<float> a(kCount), b(kCount);
    int peer = (rank + 1) % n;
    const size_t huge = SIZE_MAX;
    expectInvalidArgument(
        "allreduce SIZE_MAX",
        braidAllReduce(a.data(), b.data(), huge, braidFloat, braidSum, comm, nullptr), comm,
        {"braidAllReduce", "overflow"});
    expectInvalidArgument("broadcast SIZE_MAX",
                          braidBroadcast(a.data(), b.data(), huge, braidFloat, 0, comm, nullptr),
                          comm, {"braidBroadcast", "overflow"});
    expectInvalidArgument(
        "reduce SIZE_MAX",
        braidReduce(a.data(), b.data(), huge, braidFloat, braidSum, 0, comm, nullptr), comm,
        {"braidReduce", "overflow"});
    expectInvalidArgument("allgather SIZE_MAX",
                          braidAllGather(a.data(), b.data(), huge, braidFloat, comm, nullptr), comm,
                          {"braidAllGather", "overflow"});
    expectInvalidArgument(
        "reducescatter SIZE_MAX",
        braidReduceScatter(a.data(), b.data(), huge, braidFloat, braidSum, comm, nullptr), comm,
        {"braidReduceScatter", "overflow"});
    expectInvalidArgument("alltoall SIZE_MAX",
                          braidAlltoAll(a.data(), b.data(), huge, braidFloat, comm, nullptr), comm,
                          {"braidAlltoAll", "overflow"});
    expectInvalidArgument("send SIZE_MAX",
                          braidSend(a.data(), huge, braidFloat, peer, comm, nullptr), comm,
                          {"braidSend", "overflow"});
    expectInvalidArgument("recv SIZE_MAX",
                          braidRecv(b.data(), huge, braidFloat, peer, comm, nullptr), comm,
                          {"braidRecv", "overflow"});
    // One block fits, but nranks blocks do not.
    if (n > 1) {
      size_t perRank =
          static_cast<size_t>(PTRDIFF_MAX) / sizeof(float) / static_cast<size_t>(n) + 1;
      expectInvalidArgument("allgather nranks x count overflows",
                            braidAllGather(a.data(), b.data(), perRank, braidFloat, comm, nullptr),
                            comm, {"braidAllGather", "overflow"});
      expectInvalidArgument(
          "reducescatter nranks x count overflows",
          braidReduceScatter(a.data(), b.data(), perRank, braidFloat, braidSum, comm, nullptr),
          comm, {"braidReduceScatter", "overflow"});
      expectInvalidArgument("alltoall nranks x count overflows",
                            braidAlltoAll(a.data(), b.data(), perRank, braidFloat, comm, nullptr),
                            comm, {"braidAlltoAll", "overflow"});
    }
  });
}

TEST_P(BadArguments, PartiallyOverlappingBuffersAreInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int rank, int n) {
    std::vector<float> buf(kCount * static_cast<size_t>(n) * 2 + 8);
    float* base = buf.data();
    expectInvalidArgument(
        "allreduce recvbuff = sendbuff + 1",
        braidAllReduce(base, base + 1, kCount, braidFloat, braidSum, comm, nullptr), comm,
        {"braidAllReduce", "overlap"});
    expectInvalidArgument(
        "allreduce sendbuff = recvbuff + 1",
        braidAllReduce(base + 1, base, kCount, braidFloat, braidSum, comm, nullptr), comm,
        {"braidAllReduce", "overlap"});
    // In place is sendbuff == recvbuff + rank * count; one element off is an overlap.
    float* inPlace = base + static_cast<size_t>(rank) * kCount;
    expectInvalidArgument("allgather sendbuff one element past in place",
                          braidAllGather(inPlace + 1, base, kCount, braidFloat, comm, nullptr),
                          comm, {"braidAllGather", "overlap"});
    // In place is sendbuff + rank * count == recvbuff; one element off is an overlap.
    expectInvalidArgument(
        "reducescatter recvbuff one element past in place",
        braidReduceScatter(base, inPlace + 1, kCount, braidFloat, braidSum, comm, nullptr), comm,
        {"braidReduceScatter", "overlap"});
    expectInvalidArgument("alltoall in place",
                          braidAlltoAll(base, base, kCount, braidFloat, comm, nullptr), comm,
                          {"braidAlltoAll", "in place"});
    expectInvalidArgument("alltoall recvbuff = sendbuff + 1",
                          braidAlltoAll(base, base + 1, kCount, braidFloat, comm, nullptr), comm,
                          {"braidAlltoAll", "overlap"});
    // The root is the only rank that reads sendbuff of a broadcast or writes recvbuff of a reduce.
    if (rank == 0) {
      expectInvalidArgument("broadcast overlap on the root",
                            braidBroadcast(base, base + 1, kCount, braidFloat, 0, comm, nullptr),
                            comm, {"braidBroadcast", "overlap"});
      expectInvalidArgument(
          "reduce overlap on the root",
          braidReduce(base, base + 1, kCount, braidFloat, braidSum, 0, comm, nullptr), comm,
          {"braidReduce", "overlap"});
    }
  });
}

TEST_P(BadArguments, SendToSelfOutsideGroupIsInvalidUsage) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int rank, int) {
    std::vector<float> a(kCount), b(kCount);
    expectRejected("send to self outside a group",
                   braidSend(a.data(), kCount, braidFloat, rank, comm, nullptr), braidInvalidUsage,
                   comm, {"braidSend", "group"});
    expectRejected("recv from self outside a group",
                   braidRecv(b.data(), kCount, braidFloat, rank, comm, nullptr), braidInvalidUsage,
                   comm, {"braidRecv", "group"});
  });
}

TEST_P(BadArguments, SplitWithBadColorOrConfigIsInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int, int) {
    braidComm_t child = nullptr;
    expectInvalidArgument("split color -5", braidCommSplit(comm, -5, 0, &child, nullptr), comm,
                          {"braidCommSplit", "color"});
    EXPECT_EQ(child, nullptr);
    braidConfig_t zeroed;
    std::memset(&zeroed, 0, sizeof(zeroed));
    expectInvalidArgument("split with a config not made by BRAID_CONFIG_INITIALIZER",
                          braidCommSplit(comm, 0, 0, &child, &zeroed), comm,
                          {"braidCommSplit", "BRAID_CONFIG_INITIALIZER"});
    EXPECT_EQ(child, nullptr);
    expectInvalidArgument("split NULL newcomm", braidCommSplit(comm, 0, 0, nullptr, nullptr), comm,
                          {"braidCommSplit", "newcomm", "NULL"});
  });
}

TEST_P(BadArguments, NullOutputPointersAreInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int, int) {
    expectInvalidArgument("braidCommCount NULL", braidCommCount(comm, nullptr), comm,
                          {"braidCommCount", "NULL"});
    expectInvalidArgument("braidCommUserRank NULL", braidCommUserRank(comm, nullptr), comm,
                          {"braidCommUserRank", "NULL"});
    expectInvalidArgument("braidCommCuDevice NULL", braidCommCuDevice(comm, nullptr), comm,
                          {"braidCommCuDevice", "NULL"});
    expectInvalidArgument("braidCommGetAsyncError NULL", braidCommGetAsyncError(comm, nullptr),
                          comm, {"braidCommGetAsyncError", "NULL"});
    expectInvalidArgument("braidCommPeerTransport NULL", braidCommPeerTransport(comm, 0, nullptr),
                          comm, {"braidCommPeerTransport", "NULL"});
    expectInvalidArgument("braidCommLastAlgorithm NULL", braidCommLastAlgorithm(comm, nullptr),
                          comm, {"braidCommLastAlgorithm", "NULL"});
  });
}

TEST_P(BadArguments, PeerOutOfRangeForPeerTransportIsInvalidArgument) {
  runThenCheckUsable(GetParam(), [](braidComm_t comm, int, int n) {
    const char* transport = "untouched";
    for (int peer : {-1, n, n + 7}) {
      expectInvalidArgument("braidCommPeerTransport bad peer",
                            braidCommPeerTransport(comm, peer, &transport), comm,
                            {"braidCommPeerTransport", "peer", std::to_string(peer).c_str()});
    }
    EXPECT_STREQ(transport, "untouched");
  });
}

INSTANTIATE_TEST_SUITE_P(Ranks, BadArguments, ::testing::Values(1, 2),
                         [](const auto& info) { return std::to_string(info.param) + "ranks"; });

// Calls that get no usable communicator record their message for braidGetLastError(NULL).
TEST(BadArgumentsNoComm, NullCommIsInvalidArgument) {
  std::vector<float> a(kCount), b(kCount);
  auto expectNullComm = [](const char* what, braidResult_t code) {
    expectInvalidArgument(what, code, nullptr, {"comm", "NULL"});
  };
  expectNullComm("allreduce", braidAllReduce(a.data(), b.data(), kCount, braidFloat, braidSum,
                                             nullptr, nullptr));
  expectNullComm("broadcast",
                 braidBroadcast(a.data(), b.data(), kCount, braidFloat, 0, nullptr, nullptr));
  expectNullComm(
      "reduce", braidReduce(a.data(), b.data(), kCount, braidFloat, braidSum, 0, nullptr, nullptr));
  expectNullComm("allgather", braidAllGather(a.data(), b.data(), 1, braidFloat, nullptr, nullptr));
  expectNullComm("reducescatter",
                 braidReduceScatter(a.data(), b.data(), 1, braidFloat, braidSum, nullptr, nullptr));
  expectNullComm("alltoall", braidAlltoAll(a.data(), b.data(), 1, braidFloat, nullptr, nullptr));
  expectNullComm("barrier", braidBarrier(nullptr, nullptr));
  expectNullComm("send", braidSend(a.data(), kCount, braidFloat, 0, nullptr, nullptr));
  expectNullComm("recv", braidRecv(b.data(), kCount, braidFloat, 0, nullptr, nullptr));
  int v = 0;
  braidResult_t async = braidSuccess;
  braidComm_t child = nullptr;
  expectNullComm("braidCommCount", braidCommCount(nullptr, &v));
  expectNullComm("braidCommUserRank", braidCommUserRank(nullptr, &v));
  expectNullComm("braidCommCuDevice", braidCommCuDevice(nullptr, &v));
  expectNullComm("braidCommGetAsyncError", braidCommGetAsyncError(nullptr, &async));
  expectNullComm("braidCommFinalize", braidCommFinalize(nullptr));
  expectNullComm("braidCommSplit", braidCommSplit(nullptr, 0, 0, &child, nullptr));
  expectNullComm("braidCommDestroy", braidCommDestroy(nullptr));
  expectNullComm("braidCommAbort", braidCommAbort(nullptr));
}

// Run this one under ASan: a destroyed handle must be refused, never dereferenced.
TEST(BadArgumentsNoComm, DestroyedCommIsInvalidArgumentNotACrash) {
  setenv("BRAID_TIMEOUT_MS", "10000", 1);
  for (int n : {1, 2}) {
    SCOPED_TRACE(std::to_string(n) + " ranks");
    std::vector<braidComm_t> comms(static_cast<size_t>(n));
    ASSERT_EQ(braidCommInitAll(comms.data(), n, nullptr), braidSuccess)
        << braidGetLastError(nullptr);
    for (braidComm_t c : comms)
      ASSERT_EQ(braidCommDestroy(c), braidSuccess) << braidGetLastError(c);
    braidComm_t dead = comms[0];
    std::vector<float> a(kCount), b(kCount);
    int v = 0;
    braidResult_t async = braidSuccess;
    braidComm_t child = nullptr;
    std::initializer_list<const char*> words = {"destroyed"};
    expectInvalidArgument(
        "allreduce on a destroyed comm",
        braidAllReduce(a.data(), b.data(), kCount, braidFloat, braidSum, dead, nullptr), dead,
        words);
    expectInvalidArgument("broadcast on a destroyed comm",
                          braidBroadcast(a.data(), b.data(), kCount, braidFloat, 0, dead, nullptr),
                          dead, words);
    expectInvalidArgument("barrier on a destroyed comm", braidBarrier(dead, nullptr), dead, words);
    expectInvalidArgument("send on a destroyed comm",
                          braidSend(a.data(), kCount, braidFloat, 0, dead, nullptr), dead, words);
    expectInvalidArgument("braidCommCount on a destroyed comm", braidCommCount(dead, &v), dead,
                          words);
    expectInvalidArgument("braidCommGetAsyncError on a destroyed comm",
                          braidCommGetAsyncError(dead, &async), dead, words);
    expectInvalidArgument("braidCommSplit on a destroyed comm",
                          braidCommSplit(dead, 0, 0, &child, nullptr), dead, words);
    expectInvalidArgument("braidCommFinalize on a destroyed comm", braidCommFinalize(dead), dead,
                          words);
    expectInvalidArgument("second braidCommDestroy", braidCommDestroy(dead), dead, words);
    expectInvalidArgument("braidCommAbort on a destroyed comm", braidCommAbort(dead), dead, words);
    // A destroyed comm inside a group is refused when queued, and the group still ends cleanly.
    ASSERT_EQ(braidGroupStart(), braidSuccess);
    expectInvalidArgument(
        "allreduce on a destroyed comm in a group",
        braidAllReduce(a.data(), b.data(), kCount, braidFloat, braidSum, dead, nullptr), dead,
        words);
    EXPECT_EQ(braidGroupEnd(), braidSuccess) << braidGetLastError(nullptr);
  }
}

TEST(BadArgumentsNoComm, GroupEndWithoutStartIsInvalidUsage) {
  expectRejected("braidGroupEnd without start", braidGroupEnd(), braidInvalidUsage, nullptr,
                 {"braidGroupEnd", "braidGroupStart"});
  // A balanced pair afterwards still works, and the unbalanced end left no depth behind.
  ASSERT_EQ(braidGroupStart(), braidSuccess);
  EXPECT_EQ(braidGroupEnd(), braidSuccess) << braidGetLastError(nullptr);
  expectRejected("second braidGroupEnd without start", braidGroupEnd(), braidInvalidUsage, nullptr,
                 {"braidGroupEnd", "braidGroupStart"});
}

TEST(BadArgumentsNoComm, InitRankWithBadArgumentsIsInvalidArgument) {
  setenv("BRAID_TIMEOUT_MS", "10000", 1);
  braidUniqueId id;
  ASSERT_EQ(braidGetUniqueId(&id), braidSuccess) << braidGetLastError(nullptr);
  // A non-null sentinel shows that a failed init leaves *comm NULL.
  braidComm_t sentinel = reinterpret_cast<braidComm_t>(&id);
  braidComm_t comm = sentinel;
  expectInvalidArgument("rank == nranks", braidCommInitRank(&comm, 2, id, 2), nullptr,
                        {"braidCommInitRank", "rank", "out of range"});
  EXPECT_EQ(comm, nullptr);
  comm = sentinel;
  expectInvalidArgument("rank > nranks", braidCommInitRank(&comm, 2, id, 7), nullptr,
                        {"braidCommInitRank", "rank", "out of range"});
  EXPECT_EQ(comm, nullptr);
  comm = sentinel;
  expectInvalidArgument("rank -1", braidCommInitRank(&comm, 2, id, -1), nullptr,
                        {"braidCommInitRank", "rank", "out of range"});
  EXPECT_EQ(comm, nullptr);
  comm = sentinel;
  expectInvalidArgument("nranks 0", braidCommInitRank(&comm, 0, id, 0), nullptr,
                        {"braidCommInitRank", "nranks"});
  EXPECT_EQ(comm, nullptr);
  comm = sentinel;
  braidUniqueId zeroed;
  std::memset(&zeroed, 0, sizeof(zeroed));
  expectInvalidArgument("zeroed unique id", braidCommInitRank(&comm, 1, zeroed, 0), nullptr,
                        {"braidCommInitRank", "unique id"});
  EXPECT_EQ(comm, nullptr);
  comm = sentinel;
  braidConfig_t noInitializer;
  std::memset(&noInitializer, 0, sizeof(noInitializer));
  noInitializer.size = sizeof(noInitializer);
  noInitializer.timeoutMs = 1000;
  expectInvalidArgument("config without BRAID_CONFIG_INITIALIZER",
                        braidCommInitRankConfig(&comm, 1, id, 0, &noInitializer), nullptr,
                        {"braidCommInitRank", "magic"});
  EXPECT_EQ(comm, nullptr);
  expectInvalidArgument("NULL comm pointer", braidCommInitRank(nullptr, 1, id, 0), nullptr,
                        {"braidCommInitRank", "NULL"});
  expectInvalidArgument("braidCommInitAll ndev 0", braidCommInitAll(&comm, 0, nullptr), nullptr,
                        {"braidCommInitAll", "ndev"});
  expectInvalidArgument("braidCommInitAll NULL comms", braidCommInitAll(nullptr, 2, nullptr),
                        nullptr, {"braidCommInitAll", "NULL"});
  expectInvalidArgument("braidGetUniqueId NULL", braidGetUniqueId(nullptr), nullptr,
                        {"braidGetUniqueId", "NULL"});
  expectInvalidArgument("braidGetVersion NULL", braidGetVersion(nullptr), nullptr,
                        {"braidGetVersion", "NULL"});
}

TEST(BadArgumentsNoComm, EveryResultCodeHasANonEmptyErrorString) {
  for (int code = 0; code < braidNumResults; ++code) {
    const char* text = braidGetErrorString(static_cast<braidResult_t>(code));
    ASSERT_NE(text, nullptr) << "code " << code;
    EXPECT_GT(std::strlen(text), 0u) << "code " << code;
    if (code != braidSuccess) {
      EXPECT_STRNE(text, braidGetErrorString(braidSuccess)) << "code " << code;
    }
  }
  const char* unknown = rawGetErrorString(1000);
  ASSERT_NE(unknown, nullptr);
  EXPECT_GT(std::strlen(unknown), 0u);
}

}  // namespace
}  // namespace braid::test
