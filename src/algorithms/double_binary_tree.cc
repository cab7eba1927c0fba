// Double binary tree allreduce, pipelined. The buffer is cut in two halves; each half is reduced
// up one binary tree to its root and broadcast back down the same tree, chunk by chunk. Tree A is
// the balanced in-order tree over ranks 0..n-1 (the root of [lo, hi) is its midpoint), whose
// leaves are the even ranks; tree B is tree A with every rank moved up by one (position i holds
// rank i+1 mod n), whose leaves are the odd ranks. So nearly every rank is a leaf in one tree and
// sends and receives each half about once, and the two halves keep every link busy both ways:
// log2(n) latency with the ring's bandwidth.
//
// Order: every rank walks the same sequence of steps: at step s, chunk s goes up tree A, then up
// tree B, then chunk s - lag comes down tree A, then tree B. A rank's wait at a step is only ever
// for another rank's same step (up from a child, down from a parent: trees have no cycles) or an
// earlier one (the root's reduction of a chunk that now comes down), and every connection carries
// its messages in step order, so bounded slots cannot deadlock it (as with the ring's
// chunk-outermost loop). The lag lets a chunk's round trip overlap the next chunks going up.
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/chunks.h"
#include "reduce/reduce.h"

namespace braid {

namespace {

struct TreeNode {
  int parent = -1;  // -1 at the root
  std::vector<int> children;
};

// The balanced in-order tree over positions [lo, hi), its root at the midpoint; rankAt maps a
// position to a rank. Fills nodes[rank] for the ranks in range; returns the root's rank.
template <typename RankAt>
int buildTree(int lo, int hi, int parent, RankAt rankAt, std::vector<TreeNode>* nodes) {
  if (lo >= hi) return -1;
  int mid = lo + (hi - lo) / 2;
  int rank = rankAt(mid);
  TreeNode& node = (*nodes)[static_cast<size_t>(rank)];
  node.parent = parent;
  for (int child :
       {buildTree(lo, mid, rank, rankAt, nodes), buildTree(mid + 1, hi, rank, rankAt, nodes)}) {
    if (child >= 0) node.children.push_back(child);
  }
  return rank;
}

class DoubleBinaryTree {
 public:
  DoubleBinaryTree(Comm& comm, const CollArgs& a)
      : comm_(comm),
        a_(a),
        es_(a.typeSize),
        halves_{a.count, 2},
        chunkElems_(std::max<size_t>(1, comm.settings().chunkBytes / a.typeSize)) {
    int n = comm.nranks();
    for (int t = 0; t < 2; ++t) {
      std::vector<TreeNode> nodes(static_cast<size_t>(n));
      buildTree(
          0, n, -1, [&](int pos) { return (pos + t) % n; }, &nodes);
      me_[t] = nodes[static_cast<size_t>(comm.rank())];
    }
    int depth = 0;
    while ((1 << depth) < n)
      ++depth;
    lag_ = static_cast<size_t>(2 * depth);
    chunks_ = (halves_.size(0) + chunkElems_ - 1) / chunkElems_;
  }

  void run() {
    for (size_t s = 0; s < chunks_ + lag_; ++s) {
      forEachStep(s, [&](int t, size_t j, bool up) {
        size_t o = 0, k = 0;
        if (!chunkOf(t, j, &o, &k)) return;
        if (up) {
          for (int child : me_[t].children)
            comm_.connection(child).postRecvSlot(k * es_);
        } else if (me_[t].parent >= 0) {
          comm_.connection(me_[t].parent).postRecv(out() + o * es_, k * es_);
        }
      });
    }
    for (size_t s = 0; s < chunks_ + lag_; ++s) {
      forEachStep(s, [&](int t, size_t j, bool up) {
        size_t o = 0, k = 0;
        if (!chunkOf(t, j, &o, &k)) return;
        if (up) {
          reduceUp(me_[t], o, k);
        } else {
          comeDown(me_[t], o, k);
        }
      });
    }
  }

 private:
  // The (tree, chunk, direction) parts of step s, in the order every rank takes them.
  template <typename F>
  void forEachStep(size_t s, F&& f) const {
    for (int t = 0; t < 2 && s < chunks_; ++t)
      f(t, s, true);
    for (int t = 0; t < 2 && s >= lag_; ++t)
      f(t, s - lag_, false);
  }

  // Chunk j of half t: false when that half is too short to have one.
  bool chunkOf(int t, size_t j, size_t* offset, size_t* count) const {
    size_t begin = j * chunkElems_;
    if (begin >= halves_.size(t)) return false;
    *offset = halves_.offset(t) + begin;
    *count = std::min(chunkElems_, halves_.size(t) - begin);
    return true;
  }

  char* out() const { return static_cast<char*>(a_.recv); }
  const char* in() const { return static_cast<const char*>(a_.send); }

  // Combines the children's partial results with this rank's input and passes the sum up; the
  // root keeps it in the output (divided, for an average).
  void reduceUp(const TreeNode& node, size_t o, size_t k) {
    if (node.children.empty()) {  // a leaf: its input goes up as it is
      comm_.connection(node.parent).postSend(in() + o * es_, k * es_);
      return;
    }
    Connection* parent = node.parent < 0 ? nullptr : &comm_.connection(node.parent);
    char* dst = out() + o * es_;
    if (parent != nullptr) {
      comm_.wait([&] { return parent->sendSlotFree(); }, node.parent,
                 "waiting for a free slot toward");
      dst = static_cast<char*>(parent->sendSlot());
    }
    int divideBy = a_.op == braidAvg ? comm_.nranks() : 1;
    const char* src = in() + o * es_;
    for (size_t i = 0; i < node.children.size(); ++i) {
      Connection& c = comm_.connection(node.children[i]);
      comm_.wait([&] { return c.recvReady(); }, c.peer(), "waiting for data from");
      bool last = parent == nullptr && i + 1 == node.children.size();
      reduce(dst, src, c.recvData(), k, a_.type, a_.op, last ? divideBy : 1);
      c.recvDone();
      src = dst;
    }
    if (parent != nullptr) parent->postSlot(k * es_);
  }

  // The finished chunk: from the parent into the output (the root has it), then on to the
  // children from there.
  void comeDown(const TreeNode& node, size_t o, size_t k) {
    if (node.parent >= 0) {
      Connection& p = comm_.connection(node.parent);
      comm_.wait([&] { return p.recvReady(); }, node.parent, "waiting for data from");
      p.recvDone();
    }
    for (int child : node.children)
      comm_.connection(child).postSendDirect(out() + o * es_, k * es_);
  }

  Comm& comm_;
  const CollArgs& a_;
  size_t es_;
  Blocks halves_;
  size_t chunkElems_;
  TreeNode me_[2];
  size_t lag_ = 0;
  size_t chunks_ = 0;
};

}  // namespace

void doubleBinaryTreeAllReduce(Comm& comm, const CollArgs& a) {
  if (comm.nranks() == 1) {
    divideCopy(a.recv, a.send, a.count, a.type, 1);
    return;
  }
  DoubleBinaryTree(comm, a).run();
}

}  // namespace braid
