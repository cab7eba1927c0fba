// hostContiguousRingOrder: a stable grouping of ranks by host.
#include "topology/ring_order.h"

#include <algorithm>
#include <numeric>
#include <unordered_map>

namespace braid {

std::vector<int> hostContiguousRingOrder(const std::vector<uint64_t>& hostOfRank) {
  std::unordered_map<uint64_t, int> firstRankOfHost;
  for (size_t r = 0; r < hostOfRank.size(); ++r)
    firstRankOfHost.emplace(hostOfRank[r], static_cast<int>(r));
  std::vector<int> order(hostOfRank.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return firstRankOfHost[hostOfRank[static_cast<size_t>(a)]] <
           firstRankOfHost[hostOfRank[static_cast<size_t>(b)]];
  });
  return order;
}

}  // namespace braid
