// The algorithm registry: every algorithm Braid has, in order of preference, and the choice per
// call (BRAID_ALGO first, then the first entry that serves the call, is eligible and is within
// its default size limit). The limits come from the measurements in docs/benchmarks.md.
#include <cstdint>

#include "algorithms/algo_spec.h"
#include "algorithms/algorithm.h"
#include "core/error.h"
#include "core/log.h"

namespace braid {

namespace {

bool servesRingKinds(OpKind k) {
  return k == OpKind::kAllReduce || k == OpKind::kReduceScatter || k == OpKind::kAllGather;
}
bool servesChainKinds(OpKind k) {
  return k == OpKind::kBroadcast || k == OpKind::kReduce;
}
bool servesAlltoAll(OpKind k) {
  return k == OpKind::kAlltoAll;
}
bool servesBarrier(OpKind k) {
  return k == OpKind::kBarrier;
}
const char* alwaysEligible(const Comm&, const CollArgs&) {
  return nullptr;
}

void runRing(Comm& c, const CollArgs& a) {
  switch (a.kind) {
    case OpKind::kAllReduce:
      return ringAllReduce(c, a);
    case OpKind::kReduceScatter:
      return ringReduceScatter(c, a);
    default:
      return ringAllGather(c, a);
  }
}
void runChain(Comm& c, const CollArgs& a) {
  return a.kind == OpKind::kBroadcast ? chainBroadcast(c, a) : chainReduce(c, a);
}

bool servesAllReduce(OpKind k) {
  return k == OpKind::kAllReduce;
}

void runHalvingDoubling(Comm& c, const CollArgs& a) {
  return a.kind == OpKind::kAllReduce ? halvingDoublingAllReduce(c, a) : halvingReduceScatter(c, a);
}
void runBinomial(Comm& c, const CollArgs& a) {
  return a.kind == OpKind::kBroadcast ? binomialBroadcast(c, a) : binomialReduce(c, a);
}
bool servesHalvingDoublingKinds(OpKind k) {
  return k == OpKind::kAllReduce || k == OpKind::kReduceScatter;
}
bool servesAllGather(OpKind k) {
  return k == OpKind::kAllGather;
}

// Default size limits, in the form Algorithm::defaultBelowBytes takes.
template <size_t kBytes>
size_t below(OpKind) {
  return kBytes;
}
constexpr size_t kAny = SIZE_MAX;
// Its reduce-scatter lost to the ring's at every size measured; its allreduce wins in between
// recursive doubling and the ring.
size_t rabenseifnerBelow(OpKind k) {
  return k == OpKind::kAllReduce ? 256 << 10 : 0;
}

// Registry order is preference order: the first entry that serves the call, is eligible and is
// within its size limit runs unless BRAID_ALGO says otherwise.
constexpr Algorithm kAlgorithms[] = {
    {"recdbl", "recursive doubling: log2(n) whole-buffer exchanges; for small messages",
     servesAllReduce, alwaysEligible, below<64 << 10>, recursiveDoublingAllReduce},
    {"rabenseifner",
     "recursive halving reduce-scatter (then doubling allgather): log2(n) steps, 2x the data",
     servesHalvingDoublingKinds, alwaysEligible, rabenseifnerBelow, runHalvingDoubling},
    // Never better than both its neighbours on one host (docs/benchmarks.md): left to BRAID_ALGO
    // until the tuner weighs it for multi-host runs.
    {"dbtree", "pipelined double binary tree: each half reduced up and broadcast down one tree",
     servesAllReduce, alwaysEligible, below<0>, doubleBinaryTreeAllReduce},
    {"bruck", "Bruck allgather: log2(n) steps for any rank count", servesAllGather, alwaysEligible,
     below<256 << 10>, bruckAllGather},
    {"tree", "pipelined binomial tree from (broadcast) or to (reduce) the root: log2(n) hops",
     servesChainKinds, alwaysEligible, below<1 << 20>, runBinomial},
    {"ring", "pipelined ring: reduce-scatter then allgather; bandwidth-optimal", servesRingKinds,
     alwaysEligible, below<kAny>, runRing},
    {"chain", "pipelined chain along the ring from (broadcast) or to (reduce) the root",
     servesChainKinds, alwaysEligible, below<kAny>, runChain},
    {"pairwise", "every pair exchanges its block directly, all pairs at once", servesAlltoAll,
     alwaysEligible, below<kAny>, pairwiseAlltoAll},
    {"dissemination", "log2(n) rounds of signals to rank+2^k", servesBarrier, alwaysEligible,
     below<kAny>, disseminationBarrier},
};

}  // namespace

std::span<const Algorithm> algorithms() {
  return kAlgorithms;
}

size_t messageBytes(const Comm& comm, const CollArgs& args) {
  size_t bytes = args.count * args.typeSize;
  bool perRank = args.kind == OpKind::kAllGather || args.kind == OpKind::kReduceScatter ||
                 args.kind == OpKind::kAlltoAll;
  return perRank ? bytes * static_cast<size_t>(comm.nranks()) : bytes;
}

const Algorithm& chooseAlgorithm(const Comm& comm, const CollArgs& args) {
  size_t bytes = messageBytes(comm, args);
  if (!comm.settings().algo.empty()) {
    const Algorithm* forced =
        forcedAlgorithm(parseAlgoSpec(comm.settings().algo), args.kind, bytes);
    if (forced != nullptr) {
      const char* why = forced->ineligible(comm, args);
      if (why != nullptr) {
        fail(braidInvalidArgument, "BRAID_ALGO forces '", forced->name, "', which cannot run ",
             opKindName(args.kind), ": ", why);
      }
      BRAID_TRACE(kTuning, "%s of %zu bytes: %s (BRAID_ALGO)", opKindName(args.kind), bytes,
                  forced->name);
      return *forced;
    }
  }
  for (const Algorithm& a : kAlgorithms) {
    if (a.serves(args.kind) && bytes < a.defaultBelowBytes(args.kind) &&
        a.ineligible(comm, args) == nullptr) {
      BRAID_TRACE(kTuning, "%s of %zu bytes: %s (first eligible)", opKindName(args.kind), bytes,
                  a.name);
      return a;
    }
  }
  fail(braidInternalError, "no algorithm serves ", opKindName(args.kind));
}

}  // namespace braid
