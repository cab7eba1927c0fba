// Chain (pipelined linear) broadcast and reduce along the ring. Broadcast: the root streams
// chunks to the next rank, and each rank forwards a chunk as soon as it has landed in its output.
// Reduce: the rank after the root starts, each rank adds its input to the incoming chunk and
// passes it on, and the root writes the final chunk. Latency grows with the rank count (the tree
// algorithms serve small messages); bandwidth is one link's, whatever the rank count. Positions
// along the chain are places in the comm's ring order (each host's ranks contiguous).
#include <cstring>

#include "algorithms/algorithm.h"
#include "algorithms/chunks.h"
#include "reduce/reduce.h"

namespace braid {

void chainBroadcast(Comm& comm, const CollArgs& a) {
  int n = comm.nranks();
  size_t es = a.typeSize;
  char* out = static_cast<char*>(a.recv);
  bool root = comm.rank() == a.root;
  if (n == 1) {
    if (a.send != out && a.count > 0) std::memcpy(out, a.send, a.count * es);
    return;
  }
  size_t chunk = std::max<size_t>(1, comm.settings().chunkBytes / es);
  int pos = wrap(comm.ringPosition(comm.rank()) - comm.ringPosition(a.root), n);
  Connection& next = comm.connection(comm.next());
  Connection& prev = comm.connection(comm.prev());
  if (root) {
    sendFromBroadcastRoot(comm, a, {comm.next()});
  } else {
    forEachChunk(0, a.count, chunk,
                 [&](size_t o, size_t k) { prev.postRecv(out + o * es, k * es); });
    forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
      comm.wait([&] { return prev.recvReady(); }, comm.prev(), "waiting for data from");
      if (pos < n - 1) next.postSendDirect(out + o * es, k * es);
      prev.recvDone();
    });
  }
}

void chainReduce(Comm& comm, const CollArgs& a) {
  int n = comm.nranks();
  size_t es = a.typeSize;
  const char* in = static_cast<const char*>(a.send);
  char* out = static_cast<char*>(a.recv);
  if (n == 1) {
    divideCopy(out, in, a.count, a.type, 1);
    return;
  }
  size_t chunk = std::max<size_t>(1, comm.settings().chunkBytes / es);
  // 0: first in the chain; n-1: the root
  int pos = wrap(comm.ringPosition(comm.rank()) - comm.ringPosition(a.root) - 1, n);
  Connection& next = comm.connection(comm.next());
  Connection& prev = comm.connection(comm.prev());
  if (pos == 0) {
    forEachChunk(0, a.count, chunk,
                 [&](size_t o, size_t k) { next.postSend(in + o * es, k * es); });
  } else {
    int divideBy = a.op == braidAvg ? n : 1;
    forEachChunk(0, a.count, chunk, [&](size_t, size_t k) { prev.postRecvSlot(k * es); });
    forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
      comm.wait([&] { return prev.recvReady(); }, comm.prev(), "waiting for data from");
      if (pos < n - 1) {
        comm.wait([&] { return next.sendSlotFree(); }, comm.next(),
                  "waiting for a free slot toward");
        reduce(next.sendSlot(), prev.recvData(), in + o * es, k, a.type, a.op, 1);
        next.postSlot(k * es);
      } else {
        reduce(out + o * es, prev.recvData(), in + o * es, k, a.type, a.op, divideBy);
      }
      prev.recvDone();
    });
  }
}

}  // namespace braid
