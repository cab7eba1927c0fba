// The rendezvous root: collects every rank's hello, then answers each with the table of all
// ranks' listen addresses. It serves one communicator and runs on a thread of its own in the
// process that called braidGetUniqueId (or rank 0, for braidCommInitFromEnv).
#pragma once

#include <cstdint>

#include "transport/socket.h"

namespace braid {

// Starts the root on a detached thread; it listens on `listener` and gives up (telling every rank
// that came which ranks did not) after timeoutMs.
void startRendezvousRoot(Fd listener, uint64_t commMagic, int64_t timeoutMs);

struct RootHello {
  uint64_t commMagic;
  int32_t rank;
  int32_t nranks;
  SockAddr listen;
};

}  // namespace braid
