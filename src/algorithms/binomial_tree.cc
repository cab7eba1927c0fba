// Binomial-tree broadcast and reduce, pipelined in chunks, over the whole communicator or over a
// group of its ranks (groups.h). Members are numbered relative to the root (v = index - root
// mod n); the parent of v is v with its lowest set bit cleared, and the children of v are v + m
// for each power of two m below v's lowest set bit (below n for the root). The root reaches
// every rank in ceil(log2 n) hops, where the chain needs n - 1: the latency choice
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
#include "algorithms/groups.h"
#include "reduce/reduce.h"

namespace braid {

namespace {

struct BinomialTree {
  int parent = -1;            // group index; -1 at the root
  std::vector<int> children;  // group indices, largest subtree first
};

BinomialTree binomialTree(int me, int root, int n) {
  BinomialTree t;
  int v = wrap(me - root, n);
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

void sendFromBroadcastRoot(Comm& comm, const CollArgs& a, const std::vector<int>& children) {
  size_t es = a.typeSize;
  const char* in = static_cast<const char*>(a.send);
  char* out = static_cast<char*>(a.recv);
  size_t chunk = chunkElems(comm, es);
  // The receivers read the chunks straight from `in` where the transport can (postSendDirect):
  // out of place the root has its own copy to make meanwhile. In place they would then make every
  // copy alone, which wins only while the data fits in cache; beyond that two pipelined copies
  // shared with the root are faster (shm, 2 ranks: 1.3x at 4 MiB, 2x at 64 MiB).
  constexpr size_t kInPlaceDirectMax = size_t{1} << 20;
  bool direct = in != out || a.count * es <= kInPlaceDirectMax;
  forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
    for (int child : children) {
      Connection& c = comm.connection(child);
      if (direct) {
        c.postSendDirect(in + o * es, k * es);
      } else {
        c.postSend(in + o * es, k * es);
      }
    }
  });
  if (in == out) return;
  forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
    if (!children.empty()) comm.progressNow(children.front(), "sending to");
    std::memcpy(out + o * es, in + o * es, k * es);
  });
}

void treeBroadcastIn(Comm& comm, const CollArgs& a, std::span<const int> group, int me, int root) {
  size_t es = a.typeSize;
  char* out = static_cast<char*>(a.recv);
  BinomialTree t = binomialTree(me, root, static_cast<int>(group.size()));
  size_t chunk = chunkElems(comm, es);
  auto rankOf = [&](int index) { return group[static_cast<size_t>(index)]; };
  if (t.parent < 0) {
    std::vector<int> children;
    for (int child : t.children)
      children.push_back(rankOf(child));
    sendFromBroadcastRoot(comm, a, children);
    return;
  }
  int parentRank = rankOf(t.parent);
  Connection& parent = comm.connection(parentRank);
  forEachChunk(0, a.count, chunk,
               [&](size_t o, size_t k) { parent.postRecv(out + o * es, k * es); });
  forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
    comm.wait([&] { return parent.recvReady(); }, parentRank, "waiting for data from");
    for (int child : t.children)
      comm.connection(rankOf(child)).postSendDirect(out + o * es, k * es);
    parent.recvDone();
  });
}

void treeReduceIn(Comm& comm, const CollArgs& a, std::span<const int> group, int me, int root,
                  int divideBy) {
  size_t es = a.typeSize;
  const char* in = static_cast<const char*>(a.send);
  char* out = static_cast<char*>(a.recv);
  if (group.size() == 1) {
    divideCopy(out, in, a.count, a.type, divideBy);
    return;
  }
  BinomialTree t = binomialTree(me, root, static_cast<int>(group.size()));
  size_t chunk = chunkElems(comm, es);
  auto rankOf = [&](int index) { return group[static_cast<size_t>(index)]; };
  if (t.children.empty()) {  // a leaf: its input goes up as it is
    Connection& parent = comm.connection(rankOf(t.parent));
    forEachChunk(0, a.count, chunk,
                 [&](size_t o, size_t k) { parent.postSend(in + o * es, k * es); });
    return;
  }
  // Smallest subtree first: its partial sums arrive first.
  std::vector<Connection*> children;
  for (auto it = t.children.rbegin(); it != t.children.rend(); ++it)
    children.push_back(&comm.connection(rankOf(*it)));
  forEachChunk(0, a.count, chunk, [&](size_t, size_t k) {
    for (Connection* c : children)
      c->postRecvSlot(k * es);
  });
  int parentRank = t.parent < 0 ? -1 : rankOf(t.parent);
  Connection* parent = t.parent < 0 ? nullptr : &comm.connection(parentRank);
  forEachChunk(0, a.count, chunk, [&](size_t o, size_t k) {
    char* dst = out + o * es;
    if (parent != nullptr) {
      comm.wait([&] { return parent->sendSlotFree(); }, parentRank,
                "waiting for a free slot toward");
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

void binomialBroadcast(Comm& comm, const CollArgs& a) {
  treeBroadcastIn(comm, a, allRanks(comm), comm.rank(), a.root);
}

void binomialReduce(Comm& comm, const CollArgs& a) {
  int divideBy = a.op == braidAvg ? comm.nranks() : 1;
  treeReduceIn(comm, a, allRanks(comm), comm.rank(), a.root, divideBy);
}

}  // namespace braid
