// Recursive doubling allreduce, for small messages: in round k each rank swaps its whole buffer
// with rank ^ 2^k and combines, so log2(n) exchanges replace the ring's 2(n-1) steps. Partners
// combine identical values in the same association, so every rank ends bitwise equal.
// Rank counts that are not a power of two: with p the largest power of two below n and q = n - p,
// ranks 0..2q-1 pair up first (each even rank hands its data to the odd one above it and sits
// out), p ranks run the exchange, and each odd rank finally returns the result to its even one.
#include <cstring>

#include "algorithms/algorithm.h"
#include "reduce/reduce.h"

namespace braid {

void recursiveDoublingAllReduce(Comm& comm, const CollArgs& a) {
  int n = comm.nranks();
  int r = comm.rank();
  size_t bytes = a.count * a.typeSize;
  char* out = static_cast<char*>(a.recv);
  if (out != a.send && bytes > 0) std::memcpy(out, a.send, bytes);
  if (n == 1 || bytes == 0) return;
  int p = 1;
  while (p * 2 <= n)
    p *= 2;
  int q = n - p;
  int divideBy = a.op == braidAvg ? n : 1;
  char* incoming = comm.scratch(bytes);

  // Swaps out with peer and combines; divides when this is the last combination. The data goes
  // through the staging slots even where the peer could read it from `out` in one copy (shm):
  // combining right after both ranks read each other's memory ran several times slower, and the
  // whole exchange lost 1.3-2.3x from 16 to 256 KiB (2 ranks, docs/benchmarks.md).
  auto exchange = [&](int peer, bool last) {
    Connection& c = comm.connection(peer);
    c.postRecv(incoming, bytes);
    c.postSend(out, bytes);
    comm.wait([&] { return c.recvReady() && c.sendsDone(); }, peer, "waiting for data from");
    c.recvDone();
    reduce(out, out, incoming, a.count, a.type, a.op, last ? divideBy : 1);
  };

  bool sitsOut = r < 2 * q && r % 2 == 0;
  if (r < 2 * q) {
    Connection& partner = comm.connection(sitsOut ? r + 1 : r - 1);
    if (sitsOut) {
      partner.postSend(out, bytes);  // combined on arrival, as in exchange()
      partner.postRecv(out, bytes);  // the final result, after the send has left
      comm.wait([&] { return partner.recvReady(); }, r + 1, "waiting for the result from");
      partner.recvDone();
      return;
    }
    partner.postRecv(incoming, bytes);
    comm.wait([&] { return partner.recvReady(); }, r - 1, "waiting for data from");
    partner.recvDone();
    reduce(out, out, incoming, a.count, a.type, a.op, 1);  // p >= 2 rounds follow
  }
  int me = r < 2 * q ? r / 2 : r - q;
  auto rankOf = [&](int virt) { return virt < q ? virt * 2 + 1 : virt + q; };
  for (int mask = 1; mask < p; mask <<= 1)
    exchange(rankOf(me ^ mask), mask * 2 == p);
  if (r < 2 * q) comm.connection(r - 1).postSendDirect(out, bytes);
}

}  // namespace braid
