// The verbs transport in a build without rdma-core: there is never a port, and the reason says so.
// CMake compiles this file instead of verbs/ when libibverbs or its headers are missing.
#include "core/error.h"
#include "transport/ib/ib_transport.h"

namespace braid {

IbProbe probeIb() {
  return IbProbe{nullptr, IbFabric::kNone,
                 "this Braid was built without rdma-core (libibverbs not found at build time)"};
}

std::unique_ptr<Connection> makeIbConnection(int peer, std::shared_ptr<IbPort>, Fd, size_t, int,
                                             const Deadline&) {
  fail(braidInternalError, "ib connection to rank ", peer, " in a build without rdma-core");
}

}  // namespace braid
