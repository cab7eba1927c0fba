// Dissemination barrier: in round k (k = 1, 2, 4, ...) rank r signals r+k and waits for r-k.
// After ceil(log2 n) rounds every rank has heard, directly or not, from every other.
#include "algorithms/algorithm.h"

namespace braid {

// Not a local: the last round's signal may still be in flight when the function returns (the caller
// waits for every transfer afterwards), so it must outlive the call.
constexpr char kToken = 1;

void disseminationBarrier(Comm& comm, const CollArgs&) {
  int n = comm.nranks();
  int r = comm.rank();
  char received[64];
  int round = 0;
  for (int k = 1; k < n; k <<= 1, ++round) {
    Connection& to = comm.connection((r + k) % n);
    Connection& from = comm.connection((r - k + n) % n);
    to.postSend(&kToken, 1);
    from.postRecv(&received[round], 1);
    comm.wait([&] { return from.recvReady(); }, from.peer(), "waiting at the barrier for");
    from.recvDone();
  }
}

}  // namespace braid
