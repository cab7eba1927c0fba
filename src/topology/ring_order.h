// The order ranks stand in around a ring. Ring and chain algorithms cross one link per step, and
// a link between hosts is far slower than shared memory inside one, so the ring keeps each host's
// ranks contiguous: it crosses each host boundary once, whatever order the launcher gave the
// ranks. Every rank computes the order from the same allgathered host identities, so all agree.
#pragma once

#include <cstdint>
#include <vector>

namespace braid {

// hostOfRank[r]: rank r's host identity. Returns the ranks in ring order: hosts in the order of
// their lowest rank, each host's ranks in rank order. Already-contiguous hosts keep rank order.
std::vector<int> hostContiguousRingOrder(const std::vector<uint64_t>& hostOfRank);

}  // namespace braid
