// Recursive halving-doubling (Rabenseifner): allreduce as a reduce-scatter by recursive halving
// followed by an allgather by recursive doubling, and reduce-scatter as the first half alone.
// Each of the log2(p) halving steps swaps half of the data still in play with rank ^ mask and
// combines the half kept; the doubling steps swap the finished blocks back. Every rank sends and
// receives about 2x the buffer in 2 log2(p) steps: the ring's bandwidth with the tree's step
// count, the choice between the latency-bound and the bandwidth-bound sizes.
// Rank counts that are not a power of two fold first, as recursive doubling does: with p the
// largest power of two <= n and q = n - p, each even rank below 2q hands its whole input to
// the odd rank above it and sits out, the p remaining ranks (virtual ranks 0..p-1) run the
// algorithm, and each odd rank finally hands its partner the result (allreduce) or its block
// (reduce-scatter). For reduce-scatter virtual rank v below q owns the blocks of real ranks 2v
// and 2v+1, which are adjacent in the buffer, so the halving splits virtual blocks as it would
// real ones.
// Halving steps are fused and pipelined: the partner's half arrives chunk by chunk in staging
// slots and each chunk is combined with the local data straight from its slot as it lands, while
// this rank's half streams out from its own memory. Each rank consumes its slots without waiting
// for anything of its own to leave first, so the bounded FIFOs cannot deadlock; the doubling
// steps receive straight into the output.
// The allreduce also runs over a group of ranks (groups.h), as the hierarchical algorithm's step
// across hosts; "rank" above then means a member's index in the group.
#include <cstring>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/chunks.h"
#include "algorithms/groups.h"
#include "reduce/reduce.h"

namespace braid {

namespace {

struct Fold {
  int p;  // ranks left after folding: the largest power of two <= n
  int q;  // folded pairs
  explicit Fold(int n) : p(1) {
    while (p * 2 <= n)
      p *= 2;
    q = n - p;
  }
  bool sitsOut(int r) const { return r < 2 * q && r % 2 == 0; }
  int virtualRank(int r) const { return r < 2 * q ? r / 2 : r - q; }
  int realRank(int v) const { return v < q ? 2 * v + 1 : v + q; }
};

class HalvingDoubling {
 public:
  // edge[v] .. edge[v+1]: the elements of virtual block v (p + 1 entries). Members of the group
  // are numbered by their index in it; divideBy applies to the finished blocks.
  HalvingDoubling(Comm& comm, const CollArgs& a, std::span<const int> group, const Fold& fold,
                  std::vector<size_t> edge, int divideBy)
      : comm_(comm),
        a_(a),
        group_(group),
        fold_(fold),
        edge_(std::move(edge)),
        divideBy_(divideBy),
        es_(a.typeSize),
        chunkElems_(std::max<size_t>(1, comm.settings().chunkBytes / a.typeSize)) {}

  // Halving: src holds this rank's input (whole buffer), work receives the combined values; at
  // the end work holds this virtual rank's block, reduced over every rank (divided for avg).
  // src may be work. The block is [edge[me], edge[me+1]) of work.
  void reduceScatter(const char* src, char* work, int me) {
    int lo = 0, hi = fold_.p;
    for (int mask = fold_.p / 2; mask >= 1; mask /= 2) {
      int mid = lo + (hi - lo) / 2;
      bool keepLow = (me & mask) == 0;
      int keepLo = keepLow ? lo : mid, keepHi = keepLow ? mid : hi;
      int sendLo = keepLow ? mid : lo, sendHi = keepLow ? hi : mid;
      size_t keep = edge_[static_cast<size_t>(keepLo)];
      size_t keepCount = edge_[static_cast<size_t>(keepHi)] - keep;
      size_t send = edge_[static_cast<size_t>(sendLo)];
      size_t sendCount = edge_[static_cast<size_t>(sendHi)] - send;
      exchangeReduce(fold_.realRank(me ^ mask), src + send * es_, sendCount, work + keep * es_,
                     src + keep * es_, keepCount, mask == 1 ? divideBy_ : 1);
      src = work;
      lo = keepLo;
      hi = keepHi;
    }
  }

  // Doubling: starting from the finished block of virtual rank me, swaps ever larger runs of
  // finished blocks until buf holds them all.
  void allgather(char* buf, int me) {
    int lo = me, hi = me + 1;
    for (int mask = 1; mask < fold_.p; mask *= 2) {
      bool theirsBelow = (me & mask) != 0;
      int theirLo = theirsBelow ? lo - mask : hi, theirHi = theirsBelow ? lo : hi + mask;
      size_t mine = edge_[static_cast<size_t>(lo)];
      size_t theirs = edge_[static_cast<size_t>(theirLo)];
      exchange(fold_.realRank(me ^ mask), buf + mine * es_, edge_[static_cast<size_t>(hi)] - mine,
               buf + theirs * es_, edge_[static_cast<size_t>(theirHi)] - theirs);
      lo = std::min(lo, theirLo);
      hi = std::max(hi, theirHi);
    }
  }

  // Sends sendCount elements to peer and receives recvCount from it (they send the mirror image,
  // so both ends agree on every length; empty halves are skipped by both).
  void exchange(int member, const char* send, size_t sendCount, char* recv, size_t recvCount) {
    int peer = rankOf(member);
    Connection& c = comm_.connection(peer);
    if (recvCount > 0) c.postRecv(recv, recvCount * es_);
    // Halves that stay in cache go through the staging slots: where the peer could read them in
    // one copy (shm), that lost 1.2-1.5x from 16 KiB to 1 MiB (2 ranks), and won only beyond
    // (1.12x at 4 MiB; docs/benchmarks.md).
    constexpr size_t kDirectFrom = size_t{1} << 20;
    size_t sendBytes = sendCount * es_;
    if (sendBytes >= kDirectFrom) {
      c.postSendDirect(send, sendBytes);
    } else if (sendBytes > 0) {
      c.postSend(send, sendBytes);
    }
    // The sent half is overwritten by a later step, so the send must have left too.
    comm_.wait([&] { return (recvCount == 0 || c.recvReady()) && c.sendsDone(); }, peer,
               "waiting for data from");
    if (recvCount > 0) c.recvDone();
  }

  // Sends sendCount elements to peer while receiving count from it (the mirror image), chunk by
  // chunk: dst = local (op) incoming, each chunk combined from its slot as it lands. dst may be
  // local. The sent data must stay untouched until the next step, so this waits for it to leave.
  void exchangeReduce(int member, const char* send, size_t sendCount, char* dst, const char* local,
                      size_t count, int divideBy) {
    int peer = rankOf(member);
    Connection& c = comm_.connection(peer);
    forEachChunk(0, count, chunkElems_, [&](size_t, size_t k) { c.postRecvSlot(k * es_); });
    forEachChunk(0, sendCount, chunkElems_,
                 [&](size_t o, size_t k) { c.postSend(send + o * es_, k * es_); });
    forEachChunk(0, count, chunkElems_, [&](size_t o, size_t k) {
      comm_.wait([&] { return c.recvReady(); }, peer, "waiting for data from");
      reduce(dst + o * es_, local + o * es_, c.recvData(), k, a_.type, a_.op, divideBy);
      c.recvDone();
    });
    comm_.wait([&] { return c.sendsDone(); }, peer, "waiting to finish sending to");
  }

  // Transfers between a folded pair, one way, in chunks as exchangeReduce receives them.
  void sendTo(int member, const char* data, size_t count) {
    Connection& c = comm_.connection(rankOf(member));
    forEachChunk(0, count, chunkElems_,
                 [&](size_t o, size_t k) { c.postSend(data + o * es_, k * es_); });
  }
  void receiveFrom(int member, char* data, size_t count) {
    int peer = rankOf(member);
    Connection& c = comm_.connection(peer);
    forEachChunk(0, count, chunkElems_,
                 [&](size_t o, size_t k) { c.postRecv(data + o * es_, k * es_); });
    forEachChunk(0, count, chunkElems_, [&](size_t, size_t) {
      comm_.wait([&] { return c.recvReady(); }, peer, "waiting for data from");
      c.recvDone();
    });
  }

 private:
  int rankOf(int member) const { return group_[static_cast<size_t>(member)]; }

  Comm& comm_;
  const CollArgs& a_;
  std::span<const int> group_;
  const Fold& fold_;
  std::vector<size_t> edge_;
  int divideBy_;
  size_t es_;
  size_t chunkElems_;
};

}  // namespace

void halvingDoublingAllReduceIn(Comm& comm, const CollArgs& a, std::span<const int> group, int me,
                                int divideBy) {
  int n = static_cast<int>(group.size());
  int r = me;
  const char* in = static_cast<const char*>(a.send);
  char* out = static_cast<char*>(a.recv);
  if (n == 1 || a.count == 0) {
    divideCopy(out, in, a.count, a.type, divideBy);
    return;
  }
  Fold fold(n);
  Blocks blocks{a.count, fold.p};
  std::vector<size_t> edge(static_cast<size_t>(fold.p) + 1);
  for (int v = 0; v <= fold.p; ++v)
    edge[static_cast<size_t>(v)] = blocks.offset(v);
  HalvingDoubling hd(comm, a, group, fold, std::move(edge), divideBy);
  if (fold.sitsOut(r)) {
    hd.sendTo(r + 1, in, a.count);
    hd.receiveFrom(r + 1, out, a.count);  // the result, after the input has left
    return;
  }
  const char* src = in;
  if (r < 2 * fold.q) {
    hd.exchangeReduce(r - 1, nullptr, 0, out, in, a.count, 1);  // p >= 2 halving steps follow
    src = out;
  }
  int v = fold.virtualRank(r);
  hd.reduceScatter(src, out, v);
  hd.allgather(out, v);
  if (r < 2 * fold.q) hd.sendTo(r - 1, out, a.count);
}

void halvingDoublingAllReduce(Comm& comm, const CollArgs& a) {
  halvingDoublingAllReduceIn(comm, a, allRanks(comm), comm.rank(),
                             a.op == braidAvg ? comm.nranks() : 1);
}

void halvingReduceScatter(Comm& comm, const CollArgs& a) {
  int n = comm.nranks();
  int r = comm.rank();
  size_t es = a.typeSize;
  size_t total = a.count * static_cast<size_t>(n);
  const char* in = static_cast<const char*>(a.send);
  char* out = static_cast<char*>(a.recv);
  if (n == 1 || a.count == 0) {
    divideCopy(out, in, a.count, a.type, 1);
    return;
  }
  Fold fold(n);
  // Virtual block v covers the real blocks of the ranks it stands for.
  std::vector<size_t> edge(static_cast<size_t>(fold.p) + 1);
  for (int v = 0; v < fold.p; ++v)
    edge[static_cast<size_t>(v)] = a.count * static_cast<size_t>(v < fold.q ? 2 * v : v + fold.q);
  edge[static_cast<size_t>(fold.p)] = total;
  std::vector<int> everyone = allRanks(comm);
  HalvingDoubling hd(comm, a, everyone, fold, edge, a.op == braidAvg ? n : 1);
  if (fold.sitsOut(r)) {
    hd.sendTo(r + 1, in, total);
    hd.receiveFrom(r + 1, out, a.count);
    return;
  }
  char* work = comm.scratch(total * es);
  const char* src = in;
  if (r < 2 * fold.q) {
    hd.exchangeReduce(r - 1, nullptr, 0, work, in, total, 1);  // p >= 2 halving steps follow
    src = work;
  }
  int me = fold.virtualRank(r);
  hd.reduceScatter(src, work, me);
  const char* mine = work + static_cast<size_t>(r) * a.count * es;
  if (r < 2 * fold.q) hd.sendTo(r - 1, mine - a.count * es, a.count);
  // out may overlap the input (in place), never the scratch.
  std::memcpy(out, mine, a.count * es);
}

}  // namespace braid
