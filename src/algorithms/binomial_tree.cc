// Binomial-tree broadcast and reduce, pipelined in chunks. Ranks are numbered relative to the root
// (v = rank - root mod n); the parent of v is v with its lowest set bit cleared, and the children
// of v are v + m for each power of two m below v's lowest set bit (below n for the root). The
// root reaches every rank in ceil(log2 n) hops, where the chain needs n - 1: the latency choice
// for small messages. Each chunk is forwarded (broadcast) or combined and passed up (reduce) as
// soon as it is there, so chunks flow down or up the levels at once.
// Deadlock freedom: data only flows one way along tree edges. A rank waits for data from its
// children (reduce) or parent (broadcast), and for a free slot toward its parent (reduce); the
// one it waits for waits in turn only further down the tree for data or further up for slots, on
// the same or an older chunk, so no cycle of waits can close.
#include <cstring>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/chunks.h"
#include "reduce/reduce.h"

namespace braid {

namespace {

struct BinomialTree {
  int parent = -1;            // real rank; -1 at the root
  std::vector<int> children;  // real ranks, largest subtree first
};

BinomialTree binomialTree(int rank, int root, int n) {
  BinomialTree t;
  int v = wrap(rank - root, n);
  int below = v == 0 ? 1 : v & -v;  // v's lowest set bit
  if (v == 0) {
    while (below < n)
      below <<= 1;
  } else {
    t.parent = wrap(v - below + root, n);
  }
  for (int m = below >> 1; m >= 1; m >>= 1) {
    if (v + m < n) t.children.push_back(wrap(v + m + root, n));
  }
  return t;
}

size_t chunkElems(const Comm& comm, size_t typeSize) {
  return std::max<size_t>(1, comm.settings().chunkBytes / typeSize);
}

}  // namespace

void binomialBroadcast(Comm& comm, const CollArgs& a) {
  size_t es = a.typeSize;
  char* out = static_cast<char*>(a.recv);
  BinomialTree t = binomialTree(comm.rank(), a.root, comm.nranks());
  size_t chunk = chunkElems(comm, es);
  if (t.parent < 0) {
    const char* in = static_cast<const char*>(a.send);
    forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
      for (int child : t.children)
        comm.connection(child).postSend(in + o * es, k * es);
    });
    if (in != out && a.count > 0) std::memcpy(out, in, a.count * es);
    return;
  }
  Connection& parent = comm.connection(t.parent);
  forEachChunk(0, a.count, chunk,
               [&](size_t o, size_t k) { parent.postRecv(out + o * es, k * es); });
  forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
    comm.wait([&] { return parent.recvReady(); }, t.parent, "waiting for data from");
    for (int child : t.children)
      comm.connection(child).postSend(out + o * es, k * es);
    parent.recvDone();
  });
}

void binomialReduce(Comm& comm, const CollArgs& a) {
  size_t es = a.typeSize;
  const char* in = static_cast<const char*>(a.send);
  char* out = static_cast<char*>(a.recv);
  if (comm.nranks() == 1) {
    divideCopy(out, in, a.count, a.type, 1);
    return;
  }
  BinomialTree t = binomialTree(comm.rank(), a.root, comm.nranks());
  size_t chunk = chunkElems(comm, es);
  if (t.children.empty()) {  // a leaf: its input goes up as it is
    Connection& parent = comm.connection(t.parent);
    forEachChunk(0, a.count, chunk,
                 [&](size_t o, size_t k) { parent.postSend(in + o * es, k * es); });
    return;
  }
  // Smallest subtree first: its partial sums arrive first.
  std::vector<Connection*> children;
  for (auto it = t.children.rbegin(); it != t.children.rend(); ++it)
    children.push_back(&comm.connection(*it));
  forEachChunk(0, a.count, chunk, [&](size_t, size_t k) {
    for (Connection* c : children)
      c->postRecvSlot(k * es);
  });
  int divideBy = a.op == braidAvg ? comm.nranks() : 1;
  Connection* parent = t.parent < 0 ? nullptr : &comm.connection(t.parent);
  forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
    char* dst = out + o * es;
    if (parent != nullptr) {
      comm.wait([&] { return parent->sendSlotFree(); }, t.parent, "waiting for a free slot toward");
      dst = static_cast<char*>(parent->sendSlot());
    }
    const char* src = in + o * es;
    for (size_t i = 0; i < children.size(); ++i) {
      Connection& c = *children[i];
      comm.wait([&] { return c.recvReady(); }, c.peer(), "waiting for data from");
      bool last = parent == nullptr && i + 1 == children.size();
      reduce(dst, src, c.recvData(), k, a.type, a.op, last ? divideBy : 1);
      c.recvDone();
      src = dst;
    }
    if (parent != nullptr) parent->postSlot(k * es);
  });
}

}  // namespace braid
