// Dissemination barrier: in round k (k = 1, 2, 4, ...) rank r signals r+k and waits for r-k.
// After ceil(log2 n) rounds every rank has heard, directly or not, from every other.
#include "algorithms/algorithm.h"

namespace braid {

void disseminationBarrier(Comm& comm, const CollArgs&) {
  int n = comm.nranks();
  int r = comm.rank();
  const char token = 1;
  char received[64];
  int round = 0;
  for (int k = 1; k < n; k <<= 1, ++round) {
    Connection& to = comm.connection((r + k) % n);
    Connection& from = comm.connection((r - k + n) % n);
    to.postSend(&token, 1);
    from.postRecv(&received[round], 1);
    comm.wait([&] { return from.recvReady(); }, from.peer(), "waiting at the barrier for");
    from.recvDone();
  }
}

}  // namespace braid
