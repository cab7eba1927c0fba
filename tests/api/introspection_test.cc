// braidCommPeerTransport and braidCommLastAlgorithm, with ranks as threads: the transport follows
// BRAID_TRANSPORT ("self" for the rank itself), and the algorithm name is the one the last call
// ran ("" before any, "p2p" after point-to-point, the forced one under BRAID_ALGO).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "support/thread_ranks.h"

namespace braid::test {
namespace {

class Introspection : public ::testing::Test {
 protected:
  void SetUp() override { setenv("BRAID_TIMEOUT_MS", "10000", 1); }
  void TearDown() override {
    unsetenv("BRAID_TRANSPORT");
    unsetenv("BRAID_ALGO");
  }
};

// Each rank's transport to every peer, joined: "self,shm,shm" for rank 0 of 3.
std::vector<std::string> transportsOfEveryRank(int n) {
  return runRanks<std::string>(n, [n](braidComm_t comm, int) {
    std::string all;
    for (int peer = 0; peer < n; ++peer) {
      const char* name = nullptr;
      if (braidCommPeerTransport(comm, peer, &name) != braidSuccess) return std::string("error");
      if (peer) all += ',';
      all += name;
    }
    return all;
  });
}

TEST_F(Introspection, PeerTransportIsSelfThenShmOnOneHost) {
  auto got = transportsOfEveryRank(3);
  EXPECT_EQ(got[0], "self,shm,shm");
  EXPECT_EQ(got[1], "shm,self,shm");
  EXPECT_EQ(got[2], "shm,shm,self");
}

TEST_F(Introspection, PeerTransportFollowsBraidTransport) {
  setenv("BRAID_TRANSPORT", "tcp", 1);
  auto got = transportsOfEveryRank(2);
  EXPECT_EQ(got[0], "self,tcp");
  EXPECT_EQ(got[1], "tcp,self");
}

TEST_F(Introspection, LastAlgorithmNamesWhatRan) {
  setenv("BRAID_ALGO", "allreduce=ring", 1);
  auto got = runRanks<std::string>(2, [](braidComm_t comm, int rank) {
    std::string seen;
    const char* name = nullptr;
    braidCommLastAlgorithm(comm, &name);
    seen.append("[").append(name).append("]");
    std::vector<float> data(100, 1.0f);
    if (braidAllReduce(data.data(), data.data(), data.size(), braidFloat, braidSum, comm,
                       nullptr) != braidSuccess) {
      return std::string("allreduce failed");
    }
    braidCommLastAlgorithm(comm, &name);
    seen.append("[").append(name).append("]");
    braidGroupStart();
    braidSend(data.data(), 1, braidFloat, 1 - rank, comm, nullptr);
    braidRecv(data.data() + 1, 1, braidFloat, 1 - rank, comm, nullptr);
    if (braidGroupEnd() != braidSuccess) return std::string("send/recv failed");
    braidCommLastAlgorithm(comm, &name);
    seen.append("[").append(name).append("]");
    return seen;
  });
  EXPECT_EQ(got[0], "[][ring][p2p]");
  EXPECT_EQ(got[1], "[][ring][p2p]");
}

}  // namespace
}  // namespace braid::test
