// Bruck allgather: ceil(log2 n) steps for any rank count, where the ring needs n - 1. At step k
// (distance d = 2^k) rank r sends the min(d, n - d) blocks it has, those of ranks r, r+1, ...
// (mod n), to rank r - d and receives as many, those of ranks r+d, r+d+1, ..., from rank r + d.
// The textbook version gathers into a rotated temporary and rotates at the end; here blocks go
// straight to their final place in the output, and a run of blocks that wraps past the last rank
// travels as two messages. From 16 KiB blocks on, the run's first block, the sender's own, goes as
// a message of its own, from the sender's input: a single copy reads a buffer its owner has just
// written (the output, out of place) about 3x slower than one it has not (2 ranks, 128 KiB: 13
// against 4.5 us); smaller blocks go through the slots, where one message fewer counts more.
// Sender and receiver name the same blocks by their absolute index, so both cut the runs at the
// same places.
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
  constexpr size_t kOwnBlockApartMin = 16 << 10;
  bool ownApart = blockBytes >= kOwnBlockApartMin;
  // Calls f(block, count) for the blocks first .. first+blocks-1 (mod n) in at most two runs, or
  // with ownApart the first block alone and the rest in at most two runs.
  auto forEachPiece = [&](int first, int blocks, auto&& f) {
    if (ownApart) {
      f(first, 1);
      first = wrap(first + 1, n);
      --blocks;
    }
    if (blocks == 0) return;
    int head = std::min(blocks, n - first);
    f(first, head);
    if (head < blocks) f(0, blocks - head);
  };
  auto at = [&](int block) { return out + static_cast<size_t>(block) * blockBytes; };
  for (int d = 1; d < n; d *= 2) {
    int blocks = std::min(d, n - d);
    int to = wrap(r - d, n);
    int from = wrap(r + d, n);
    Connection& src = comm.connection(from);
    Connection& dst = comm.connection(to);
    int pieces = 0;
    forEachPiece(from, blocks, [&](int b, int k) {
      src.postRecv(at(b), static_cast<size_t>(k) * blockBytes);
      ++pieces;
    });
    forEachPiece(r, blocks, [&](int b, int k) {
      const void* p = ownApart && b == r ? a.send : at(b);
      dst.postSendDirect(p, static_cast<size_t>(k) * blockBytes);
    });
    // The next step sends what this one received, so every piece must have landed.
    for (int i = 0; i < pieces; ++i) {
      comm.wait([&] { return src.recvReady(); }, from, "waiting for data from");
      src.recvDone();
    }
  }
}

}  // namespace braid
