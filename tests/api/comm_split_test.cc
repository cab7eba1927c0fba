// braidCommSplit with 8 ranks as threads, against MPI_Comm_split semantics: ranks of one color
// form a communicator ordered by key, then by old rank; BRAID_SPLIT_NOCOLOR gives NULL; the new
// communicators work (an allreduce sums the old ranks of exactly their members), as does a split
// of a split, a split entered while another rank still waits in an earlier call, and the parent
// after a split.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "core/comm.h"
#include "support/thread_ranks.h"

namespace braid::test {
namespace {

constexpr int kWorld = 8;

// The members of `color` in their new order: sorted by key, then by old rank (MPI_Comm_split).
std::vector<int> expectedMembers(int color, const std::function<int(int)>& colorOf,
                                 const std::function<int(int)>& keyOf, int world) {
  std::vector<int> members;
  for (int r = 0; r < world; ++r) {
    if (colorOf(r) == color) members.push_back(r);
  }
  std::sort(members.begin(), members.end(),
            [&](int a, int b) { return keyOf(a) != keyOf(b) ? keyOf(a) < keyOf(b) : a < b; });
  return members;
}

// Checks size, rank and a sum allreduce of old ranks on `sub`, made from old rank `oldRank` with
// the given expected member order.
void checkSubComm(braidComm_t sub, int oldRank, const std::vector<int>& members) {
  ASSERT_NE(sub, nullptr) << "old rank " << oldRank << " got no communicator";
  int count = -1, newRank = -1;
  ASSERT_EQ(braidCommCount(sub, &count), braidSuccess) << braidGetLastError(sub);
  ASSERT_EQ(braidCommUserRank(sub, &newRank), braidSuccess) << braidGetLastError(sub);
  EXPECT_EQ(count, static_cast<int>(members.size())) << "old rank " << oldRank;
  auto at = std::find(members.begin(), members.end(), oldRank);
  ASSERT_NE(at, members.end());
  EXPECT_EQ(newRank, static_cast<int>(at - members.begin())) << "old rank " << oldRank;

  int64_t wantSum = 0;
  for (int m : members)
    wantSum += m;
  std::vector<int64_t> send(257, oldRank), recv(257, -1);
  ASSERT_EQ(
      braidAllReduce(send.data(), recv.data(), send.size(), braidInt64, braidSum, sub, nullptr),
      braidSuccess)
      << braidGetLastError(sub);
  for (size_t i = 0; i < recv.size(); ++i)
    ASSERT_EQ(recv[i], wantSum) << "old rank " << oldRank << " element " << i;

  // Rank order matters too: an allgather of old ranks lists the members in new-rank order.
  std::vector<int32_t> mine(1, oldRank), all(members.size(), -1);
  ASSERT_EQ(braidAllGather(mine.data(), all.data(), 1, braidInt32, sub, nullptr), braidSuccess)
      << braidGetLastError(sub);
  for (size_t i = 0; i < members.size(); ++i)
    EXPECT_EQ(all[i], members[i]) << "old rank " << oldRank << ": new rank " << i;
}

// Splits an 8-rank communicator with colorOf/keyOf and checks every new communicator.
void splitAndCheck(const std::function<int(int)>& colorOf, const std::function<int(int)>& keyOf) {
  auto ran = runRanks<int>(kWorld, [&](braidComm_t comm, int rank) {
    braidComm_t sub = nullptr;
    EXPECT_EQ(braidCommSplit(comm, colorOf(rank), keyOf(rank), &sub, nullptr), braidSuccess)
        << braidGetLastError(comm);
    checkSubComm(sub, rank, expectedMembers(colorOf(rank), colorOf, keyOf, kWorld));
    if (sub != nullptr) {
      EXPECT_EQ(braidCommDestroy(sub), braidSuccess);
    }
    return 1;
  });
  for (int r = 0; r < kWorld; ++r)
    EXPECT_EQ(ran[static_cast<size_t>(r)], 1) << "rank " << r << " did not run";
}

class CommSplit : public ::testing::Test {
 protected:
  void SetUp() override { setenv("BRAID_TIMEOUT_MS", "20000", 1); }
};

TEST_F(CommSplit, ColorRankMod3WithReversedKeysOrdersByKey) {
  splitAndCheck([](int r) { return r % 3; }, [](int r) { return -r; });
}

TEST_F(CommSplit, EqualKeysKeepOldRankOrder) {
  splitAndCheck([](int) { return 0; }, [](int) { return 0; });
  splitAndCheck([](int r) { return r % 2; }, [](int) { return 7; });
  // Two key classes: odd old ranks first, each class in old-rank order.
  splitAndCheck([](int) { return 4; }, [](int r) { return r % 2 == 1 ? -1 : 1; });
}

// The children of a split share the CPUs their parent's ranks run on: they count at least the
// parent's ranks per core (the cost model's and the spin-or-yield figure). 8 thread ranks on a
// machine with fewer than 8 CPUs make the parent crowded; each child alone (4 ranks) less so.
TEST_F(CommSplit, ChildrenAreAtLeastAsCrowdedAsTheirParent) {
  auto ran = runRanks<int>(kWorld, [](braidComm_t comm, int rank) {
    braidComm_t sub = nullptr;
    EXPECT_EQ(braidCommSplit(comm, rank % 2, rank, &sub, nullptr), braidSuccess)
        << braidGetLastError(comm);
    if (sub == nullptr) return 0;
    double parent = reinterpret_cast<Comm*>(comm)->links().ranksPerCore;
    double child = reinterpret_cast<Comm*>(sub)->links().ranksPerCore;
    EXPECT_EQ(child, parent) << "rank " << rank;
    EXPECT_EQ(braidCommDestroy(sub), braidSuccess);
    return 1;
  });
  for (int r = 0; r < kWorld; ++r)
    EXPECT_EQ(ran[static_cast<size_t>(r)], 1) << "rank " << r << " did not run";
}

TEST_F(CommSplit, NoColorYieldsNullAndOthersStillSplit) {
  auto ran = runRanks<int>(kWorld, [](braidComm_t comm, int rank) {
    bool out = rank % 2 == 0;
    // A non-null start shows that the split writes NULL rather than leaving *newcomm alone.
    braidComm_t sub = comm;
    EXPECT_EQ(braidCommSplit(comm, out ? BRAID_SPLIT_NOCOLOR : 5, rank, &sub, nullptr),
              braidSuccess)
        << braidGetLastError(comm);
    if (out) {
      EXPECT_EQ(sub, nullptr) << "rank " << rank << " asked for BRAID_SPLIT_NOCOLOR";
    } else {
      checkSubComm(sub, rank, {1, 3, 5, 7});
      if (sub != nullptr && sub != comm) {
        EXPECT_EQ(braidCommDestroy(sub), braidSuccess);
      }
    }
    return 1;
  });
  for (int r = 0; r < kWorld; ++r)
    EXPECT_EQ(ran[static_cast<size_t>(r)], 1) << "rank " << r << " did not run";
}

TEST_F(CommSplit, SplitOfASplitWorksAndParentsStayUsable) {
  auto ran = runRanks<int>(kWorld, [](braidComm_t comm, int rank) {
    // Halves by parity, keys keep old order: {0,2,4,6} and {1,3,5,7}.
    braidComm_t half = nullptr;
    EXPECT_EQ(braidCommSplit(comm, rank % 2, rank, &half, nullptr), braidSuccess)
        << braidGetLastError(comm);
    std::vector<int> halfMembers = expectedMembers(
        rank % 2, [](int r) { return r % 2; }, [](int r) { return r; }, kWorld);
    checkSubComm(half, rank, halfMembers);
    if (half == nullptr) return 0;
    int halfRank = -1;
    EXPECT_EQ(braidCommUserRank(half, &halfRank), braidSuccess);

    // Quarters of each half by half-rank / 2, reversed by key.
    braidComm_t quarter = nullptr;
    EXPECT_EQ(braidCommSplit(half, halfRank / 2, -halfRank, &quarter, nullptr), braidSuccess)
        << braidGetLastError(half);
    std::vector<int> quarterMembers;
    for (int k = 0; k < 4; ++k) {
      if (k / 2 == halfRank / 2) quarterMembers.push_back(halfMembers[static_cast<size_t>(k)]);
    }
    std::reverse(quarterMembers.begin(), quarterMembers.end());
    checkSubComm(quarter, rank, quarterMembers);

    // The parents still work after their children were made.
    checkSubComm(half, rank, halfMembers);
    checkSubComm(comm, rank, {0, 1, 2, 3, 4, 5, 6, 7});
    if (quarter != nullptr) {
      EXPECT_EQ(braidCommDestroy(quarter), braidSuccess);
    }
    EXPECT_EQ(braidCommDestroy(half), braidSuccess);
    return 1;
  });
  for (int r = 0; r < kWorld; ++r)
    EXPECT_EQ(ran[static_cast<size_t>(r)], 1) << "rank " << r << " did not run";
}

// A split may start on one rank while another is still waiting in an earlier operation: rank 1
// waits for a message rank 2 sends late, while rank 0 has already entered the split. Every rank
// must still get its communicator.
TEST_F(CommSplit, SplitStartedWhileAnotherRankStillWaitsInARecvSucceeds) {
  constexpr int kRanks = 3;
  auto ran = runRanks<int>(kRanks, [](braidComm_t comm, int rank) {
    int32_t token = 42, got = -1;
    if (rank == 2) {
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      EXPECT_EQ(braidSend(&token, 1, braidInt32, 1, comm, nullptr), braidSuccess)
          << braidGetLastError(comm);
    } else if (rank == 1) {
      EXPECT_EQ(braidRecv(&got, 1, braidInt32, 2, comm, nullptr), braidSuccess)
          << braidGetLastError(comm);
      EXPECT_EQ(got, 42);
    }
    braidComm_t sub = nullptr;
    EXPECT_EQ(braidCommSplit(comm, 0, rank, &sub, nullptr), braidSuccess)
        << "rank " << rank << ": " << braidGetLastError(comm);
    checkSubComm(sub, rank, {0, 1, 2});
    if (sub != nullptr) {
      EXPECT_EQ(braidCommDestroy(sub), braidSuccess);
    }
    return 1;
  });
  for (int r = 0; r < kRanks; ++r)
    EXPECT_EQ(ran[static_cast<size_t>(r)], 1) << "rank " << r << " did not run";
}

}  // namespace
}  // namespace braid::test
