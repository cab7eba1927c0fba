// hostContiguousRingOrder: each host's ranks stand together, hosts in order of their lowest rank,
// and the ring crosses from one host to another exactly once per host.
#include "topology/ring_order.h"

#include <gtest/gtest.h>

namespace braid {
namespace {

// How many ring links join ranks of different hosts.
int hostCrossings(const std::vector<int>& order, const std::vector<uint64_t>& hostOfRank) {
  int crossings = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    int a = order[i], b = order[(i + 1) % order.size()];
    if (hostOfRank[static_cast<size_t>(a)] != hostOfRank[static_cast<size_t>(b)]) ++crossings;
  }
  return crossings;
}

TEST(RingOrder, ContiguousHostsKeepRankOrder) {
  EXPECT_EQ(hostContiguousRingOrder({7, 7, 9, 9}), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(hostContiguousRingOrder({5, 5, 5}), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(hostContiguousRingOrder({5}), (std::vector<int>{0}));
  EXPECT_EQ(hostContiguousRingOrder({}), (std::vector<int>{}));
}

TEST(RingOrder, InterleavedHostsAreRegrouped) {
  std::vector<uint64_t> hosts{10, 20, 10, 20};  // ranks 0,2 on one host, 1,3 on another
  std::vector<int> order = hostContiguousRingOrder(hosts);
  EXPECT_EQ(order, (std::vector<int>{0, 2, 1, 3}));
  EXPECT_EQ(hostCrossings(order, hosts), 2);
}

TEST(RingOrder, HostsFollowTheirLowestRank) {
  std::vector<uint64_t> hosts{3, 1, 2, 1, 3, 2, 2};
  std::vector<int> order = hostContiguousRingOrder(hosts);
  EXPECT_EQ(order, (std::vector<int>{0, 4, 1, 3, 2, 5, 6}));
  EXPECT_EQ(hostCrossings(order, hosts), 3);
  EXPECT_EQ(hostCrossings(std::vector<int>{0, 1, 2, 3, 4, 5, 6}, hosts), 6);
}

}  // namespace
}  // namespace braid
