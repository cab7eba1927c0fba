// Pairwise alltoall: every rank posts its receive from and its send to each peer at once, rotated
// so that rank r starts with r+1 (no peer is everyone's first), and the transport moves them all
// concurrently. The block to itself is a local copy.
#include <cstring>

#include "algorithms/algorithm.h"

namespace braid {

void pairwiseAlltoAll(Comm& comm, const CollArgs& a) {
  int n = comm.nranks();
  int r = comm.rank();
  size_t block = a.count * a.typeSize;
  const char* in = static_cast<const char*>(a.send);
  char* out = static_cast<char*>(a.recv);
  if (block > 0) std::memcpy(out + r * block, in + r * block, block);
  if (n == 1 || block == 0) return;
  for (int k = 1; k < n; ++k) {
    int from = (r - k + n) % n;
    comm.connection(from).postRecv(out + from * block, block);
  }
  for (int k = 1; k < n; ++k) {
    int to = (r + k) % n;
    comm.connection(to).postSendDirect(in + to * block, block);
  }
}

}  // namespace braid
