// Point-to-point batches: the sends and receives of one group on one communicator are all posted,
// then waited for together, so any pattern of pairs (a shift, an exchange, alltoall by hand)
// completes without deadlock. A send to oneself pairs with a receive from oneself as a copy.
#pragma once

#include <cstddef>
#include <vector>

#include "collectives/braid.h"
#include "core/comm.h"

namespace braid {

struct PointToPointOp {
  bool isSend;
  int peer;
  void* buffer;  // const for sends
  size_t count;
  braidDataType_t type;
  size_t typeSize;
};

void runPointToPoint(Comm& comm, const std::vector<PointToPointOp>& ops);

}  // namespace braid
