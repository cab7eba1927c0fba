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

// Waits (at most ms) until no root of this process is in the middle of telling ranks why their
// rendezvous failed. A rank whose rendezvous failed calls it before returning: the root runs in
// its process, and had the process exited at once the root would have died before telling the
// ranks after it in line, which would then see only a closed connection.
void waitForRootFailureReplies(int64_t ms);

struct RootHello {
  uint64_t commMagic;
  int32_t rank;
  int32_t nranks;
  SockAddr listen;
};

}  // namespace braid
