// Bruck allgather: ceil(log2 n) steps for any rank count, where the ring needs n - 1. At step k
// (distance d = 2^k) rank r sends the min(d, n - d) blocks it has, those of ranks r, r+1, ...
// (mod n), to rank r - d and receives as many, those of ranks r+d, r+d+1, ..., from rank r + d.
// The textbook version gathers into a rotated temporary and rotates at the end; here blocks go
// straight to their final place in the output, and a run of blocks that wraps past the last rank
// travels as two messages. Sender and receiver name the same blocks by their absolute index, so
// both cut the run at the same place.
// Every receive lands in the output (never a slot) and is posted before the step's send, so the
// bounded FIFOs cannot deadlock.
#include <cstring>

#include "algorithms/algorithm.h"
#include "algorithms/chunks.h"

namespace braid {

void bruckAllGather(Comm& comm, const CollArgs& a) {
  int n = comm.nranks();
  int r = comm.rank();
  size_t blockBytes = a.count * a.typeSize;
  char* out = static_cast<char*>(a.recv);
  char* own = out + static_cast<size_t>(r) * blockBytes;
  if (a.send != own && blockBytes > 0) std::memcpy(own, a.send, blockBytes);
  if (n == 1 || blockBytes == 0) return;
  // Calls f(pointer, bytes) for the blocks first .. first+blocks-1 (mod n), in at most two runs.
  auto forEachRun = [&](int first, int blocks, auto&& f) {
    int head = std::min(blocks, n - first);
    f(out + static_cast<size_t>(first) * blockBytes, static_cast<size_t>(head) * blockBytes);
    if (head < blocks) f(out, static_cast<size_t>(blocks - head) * blockBytes);
  };
  for (int d = 1; d < n; d *= 2) {
    int blocks = std::min(d, n - d);
    int to = wrap(r - d, n);
    int from = wrap(r + d, n);
    Connection& src = comm.connection(from);
    Connection& dst = comm.connection(to);
    forEachRun(from, blocks, [&](char* p, size_t bytes) { src.postRecv(p, bytes); });
    forEachRun(r, blocks, [&](char* p, size_t bytes) { dst.postSendDirect(p, bytes); });
    // The next step sends what this one received, so every run must have landed.
    int runs = blocks > n - from ? 2 : 1;
    for (int i = 0; i < runs; ++i) {
      comm.wait([&] { return src.recvReady(); }, from, "waiting for data from");
      src.recvDone();
    }
  }
}

}  // namespace braid
