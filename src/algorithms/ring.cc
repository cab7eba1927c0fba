// Ring algorithms: reduce-scatter, allgather, and allreduce as the one followed by the other.
// Data is cut into one block per rank and each block into chunks. The reducing rings walk chunk
// index j outermost and, for each j, every step of the ring: a rank never has more than one chunk
// per step in flight, which is what keeps bounded slots deadlock-free around a cycle (a rank
// waiting for a free slot toward its next is never what its next is waiting for). Chunks still
// overlap in time: everyone works on chunk j at once, one hop apart.
// Incoming chunks to be reduced land in staging slots (recvReduceSend: incoming slot + local input
// -> outgoing slot); chunks that are only passed on land straight in the output buffer and are
// forwarded from there (recvCopySend), so the allgather half makes no extra copy.
// Positions: r below is this rank's place in the comm's ring order (each host's ranks contiguous),
// and blockAt(p) is the data block of the rank standing at position p, so the schedule is the same
// whatever order the ranks stand in; with rank order, blockAt(p) == p.
#include <cstring>

#include "algorithms/algorithm.h"
#include "algorithms/chunks.h"
#include "reduce/reduce.h"

namespace braid {

namespace {

struct Ring {
  Comm& comm;
  Connection& next;
  Connection& prev;
  int n;
  int r;
  size_t es;
  size_t chunkElems;

  Ring(Comm& c, size_t typeSize)
      : comm(c),
        next(c.connection(c.next())),
        prev(c.connection(c.prev())),
        n(c.nranks()),
        r(c.ringPosition(c.rank())),
        es(typeSize),
        chunkElems(std::max<size_t>(1, c.settings().chunkBytes / typeSize)) {}

  void waitRecv() {
    comm.wait([this] { return prev.recvReady(); }, comm.prev(), "waiting for data from");
  }
  void waitSlot() {
    comm.wait([this] { return next.sendSlotFree(); }, comm.next(),
              "waiting for a free slot toward");
  }

  int blockAt(int position) const { return comm.ringRank(wrap(position, n)); }

  // The chunk j of a block: false when the block is too short to have one.
  bool chunkOf(const Blocks& b, int block, size_t j, size_t* offset, size_t* count) const {
    size_t begin = j * chunkElems;
    if (begin >= b.size(block)) return false;
    *offset = b.offset(block) + begin;
    *count = std::min(chunkElems, b.size(block) - begin);
    return true;
  }
  size_t maxChunks(const Blocks& b) const { return (b.size(0) + chunkElems - 1) / chunkElems; }

  // Reduce-scatter, then (with allgather) allgather. For chunk index j, step s of the
  // reduce-scatter sends block r-s-1 and receives block r-s-2, reduced with the local input; at
  // the last step that block is r's own and goes to ownOut (divided by n for an average). With
  // allgather, that finished chunk travels on: step s of the allgather receives block r-s-1
  // straight into out and forwards it while s < n-2.
  void reduceScatter(const CollArgs& a, const Blocks& b, char* ownOut, char* allgatherOut) {
    const char* in = static_cast<const char*>(a.send);
    bool allgather = allgatherOut != nullptr;
    int divideBy = a.op == braidAvg ? n : 1;
    size_t chunks = maxChunks(b);
    size_t o = 0, k = 0;
    // Post every receive now, in wire order (the order prev sends in).
    for (size_t j = 0; j < chunks; ++j) {
      for (int s = 0; s < n - 1; ++s) {
        if (chunkOf(b, blockAt(r - s - 2), j, &o, &k)) prev.postRecvSlot(k * es);
      }
      for (int s = 0; allgather && s < n - 1; ++s) {
        if (chunkOf(b, blockAt(r - s - 1), j, &o, &k)) prev.postRecv(allgatherOut + o * es, k * es);
      }
    }
    for (size_t j = 0; j < chunks; ++j) {
      if (chunkOf(b, blockAt(r - 1), j, &o, &k)) next.postSend(in + o * es, k * es);
      for (int s = 0; s < n - 1; ++s) {
        int block = blockAt(r - s - 2);
        if (!chunkOf(b, block, j, &o, &k)) continue;
        waitRecv();
        if (s < n - 2) {
          waitSlot();
          reduce(next.sendSlot(), prev.recvData(), in + o * es, k, a.type, a.op, 1);
          next.postSlot(k * es);
        } else {
          char* dst = ownOut + (o - b.offset(block)) * es;
          reduce(dst, prev.recvData(), in + o * es, k, a.type, a.op, divideBy);
          if (allgather) next.postSend(dst, k * es);
        }
        prev.recvDone();
      }
      for (int s = 0; allgather && s < n - 1; ++s) {
        if (!chunkOf(b, blockAt(r - s - 1), j, &o, &k)) continue;
        waitRecv();
        if (s < n - 2) next.postSend(allgatherOut + o * es, k * es);
        prev.recvDone();
      }
    }
  }

  // Allgather alone: every receive lands in out (no slots), so the whole schedule is posted at
  // once. Rank r sends its own block, all its chunks at once (a transport may send them as one
  // message) from the input `own`, copying it into out meanwhile; then, for s < n-2, it forwards
  // block r-s-1 chunk by chunk as the chunks land. Blocks travel one after another, each
  // pipelined by chunks.
  void allgather(const Blocks& b, const char* own, char* out) {
    size_t chunks = maxChunks(b);
    size_t o = 0, k = 0;
    for (int s = 0; s < n - 1; ++s) {
      for (size_t j = 0; j < chunks; ++j) {
        if (chunkOf(b, blockAt(r - s - 1), j, &o, &k)) prev.postRecv(out + o * es, k * es);
      }
    }
    int mine = blockAt(r);
    size_t ownOffset = b.offset(mine);
    for (size_t j = 0; j < chunks; ++j) {
      if (chunkOf(b, mine, j, &o, &k)) next.postSendDirect(own + (o - ownOffset) * es, k * es);
    }
    if (own != out + ownOffset * es) {
      for (size_t j = 0; j < chunks; ++j) {
        if (!chunkOf(b, mine, j, &o, &k)) continue;
        comm.progressNow(comm.next(), "sending to");
        std::memcpy(out + o * es, own + (o - ownOffset) * es, k * es);
      }
    }
    for (int s = 0; s < n - 1; ++s) {
      for (size_t j = 0; j < chunks; ++j) {
        if (!chunkOf(b, blockAt(r - s - 1), j, &o, &k)) continue;
        waitRecv();
        if (s < n - 2) next.postSendDirect(out + o * es, k * es);
        prev.recvDone();
      }
    }
  }
};

}  // namespace

void ringAllReduce(Comm& comm, const CollArgs& a) {
  char* out = static_cast<char*>(a.recv);
  if (comm.nranks() == 1) {
    divideCopy(out, a.send, a.count, a.type, 1);
    return;
  }
  Ring ring(comm, a.typeSize);
  Blocks b{a.count, comm.nranks()};
  ring.reduceScatter(a, b, out + b.offset(comm.rank()) * a.typeSize, out);
}

void ringReduceScatter(Comm& comm, const CollArgs& a) {
  char* out = static_cast<char*>(a.recv);
  if (comm.nranks() == 1) {
    divideCopy(out, a.send, a.count, a.type, 1);
    return;
  }
  Ring ring(comm, a.typeSize);
  Blocks b{a.count * static_cast<size_t>(comm.nranks()), comm.nranks()};
  ring.reduceScatter(a, b, out, nullptr);
}

void ringAllGather(Comm& comm, const CollArgs& a) {
  char* out = static_cast<char*>(a.recv);
  if (comm.nranks() == 1) {
    if (a.send != out && a.count > 0) std::memcpy(out, a.send, a.count * a.typeSize);
    return;
  }
  Ring ring(comm, a.typeSize);
  Blocks b{a.count * static_cast<size_t>(comm.nranks()), comm.nranks()};
  ring.allgather(b, static_cast<const char*>(a.send), out);
}

}  // namespace braid
