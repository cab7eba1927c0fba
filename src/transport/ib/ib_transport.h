// What the rest of Braid sees of the verbs (InfiniBand / RoCE) transport: a probe for the port
// this process would use, and a factory for connections over it. The verbs code itself lives in
// verbs/ and is built only where rdma-core is found; elsewhere ib_unavailable.cc answers the probe
// with the reason, so the communicator needs no #if and the build without rdma-core is the same
// code minus one folder.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/deadline.h"
#include "transport/connection.h"
#include "transport/socket.h"

namespace braid {

// Ranks talk ib only over the same kind of fabric.
enum class IbFabric : int32_t { kNone = 0, kInfiniBand = 1, kRoce = 2 };

inline const char* ibFabricName(IbFabric fabric) {
  return fabric == IbFabric::kInfiniBand ? "InfiniBand"
         : fabric == IbFabric::kRoce     ? "RoCE"
                                         : "none";
}

class IbPort;  // an opened device, its protection domain and the chosen port and GID

struct IbProbe {
  std::shared_ptr<IbPort> port;  // null when no port is usable
  IbFabric fabric = IbFabric::kNone;
  // "rxe0 port 1, RoCE v2 GID index 1 (::ffff:10.77.0.1), MTU 4096", or why there is no port.
  std::string description;
};

// Opens the first active port that BRAID_IB_HCA allows, trying the device nearest this process's
// NUMA node first, with the GID BRAID_IB_GID_INDEX names or the scan of its GID table picks. Bad
// settings throw braidInvalidArgument; a machine without a usable port is not an error (the
// description says why).
IbProbe probeIb();

// A connection to `peer` over `port`. `side` is a TCP stream to the peer (from the bootstrap) that
// carries the queue pair's endpoint information and, afterwards, tells of the peer's death.
std::unique_ptr<Connection> makeIbConnection(int peer, std::shared_ptr<IbPort> port, Fd side,
                                             size_t slotBytes, int nslots,
                                             const Deadline& deadline);

}  // namespace braid
