// The algorithm registry: every algorithm Braid has, and the choice per call (BRAID_ALGO first,
// then the eligible algorithm the cost model predicts fastest).
#include <cstdint>
#include <string>
#include <vector>

#include "algorithms/algo_spec.h"
#include "algorithms/algorithm.h"
#include "algorithms/cost_model.h"
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
bool servesHierarchicalKinds(OpKind k) {
  return k == OpKind::kAllReduce || k == OpKind::kBroadcast || k == OpKind::kReduce ||
         k == OpKind::kAllGather;
}
bool servesAllGather(OpKind k) {
  return k == OpKind::kAllGather;
}

// Registry order breaks the cost model's ties (at 2 ranks several algorithms make the same
// transfers): the ring and the chain, the most exercised, first.
constexpr Algorithm kAlgorithms[] = {
    {"ring", "pipelined ring: reduce-scatter then allgather; bandwidth-optimal", servesRingKinds,
     alwaysEligible, ringCost, runRing},
    {"chain", "pipelined chain along the ring from (broadcast) or to (reduce) the root",
     servesChainKinds, alwaysEligible, chainCost, runChain},
    {"recdbl", "recursive doubling: log2(n) whole-buffer exchanges; for small messages",
     servesAllReduce, alwaysEligible, recursiveDoublingCost, recursiveDoublingAllReduce},
    {"rabenseifner",
     "recursive halving reduce-scatter (then doubling allgather): log2(n) steps, 2x the data",
     servesHalvingDoublingKinds, alwaysEligible, halvingDoublingCost, runHalvingDoubling},
    {"dbtree", "pipelined double binary tree: each half reduced up and broadcast down one tree",
     servesAllReduce, alwaysEligible, doubleBinaryTreeCost, doubleBinaryTreeAllReduce},
    {"hierarchical",
     "inside each host by binomial tree, across hosts between one representative per host",
     servesHierarchicalKinds, alwaysEligible, hierarchicalCost, runHierarchical},
    {"bruck", "Bruck allgather: log2(n) steps for any rank count", servesAllGather, alwaysEligible,
     bruckCost, bruckAllGather},
    {"tree", "pipelined binomial tree from (broadcast) or to (reduce) the root: log2(n) hops",
     servesChainKinds, alwaysEligible, binomialCost, runBinomial},
    {"pairwise", "every pair exchanges its block directly, all pairs at once", servesAlltoAll,
     alwaysEligible, onlyChoiceCost, pairwiseAlltoAll},
    {"dissemination", "log2(n) rounds of signals to rank+2^k", servesBarrier, alwaysEligible,
     onlyChoiceCost, disseminationBarrier},
};

// BRAID_ALGO's rules, parsed once per thread and spec (a bad spec throws on every call).
const std::vector<AlgoRule>& algoRules(const std::string& spec) {
  thread_local std::string parsedSpec;
  thread_local std::vector<AlgoRule> parsed;
  if (spec != parsedSpec || parsed.empty()) {
    parsed = parseAlgoSpec(spec);
    parsedSpec = spec;
  }
  return parsed;
}

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

CostInputs costInputs(const Comm& comm, const CollArgs& args) {
  const CostConstants& k = costConstants();
  const Comm::Links& links = comm.links();
  CostInputs in;
  in.kind = args.kind;
  in.nranks = comm.nranks();
  in.bytes = messageBytes(comm, args);
  in.hosts = links.hosts;
  in.inside = linkCost(k, links.inside, in.bytes, links.ranksPerCore);
  in.across = linkCost(k, links.across, in.bytes, links.ranksPerCore);
  in.flat = links.hosts > 1 ? in.across : in.inside;
  in.chunkBytes = comm.settings().chunkBytes;
  in.reduceBytesPerUs = reduceRate(k, in.bytes, links.ranksPerCore);
  return in;
}

const Algorithm& chooseAlgorithm(Comm& comm, const CollArgs& args) {
  size_t bytes = messageBytes(comm, args);
  if (!comm.settings().algo.empty()) {
    const Algorithm* forced = forcedAlgorithm(algoRules(comm.settings().algo), args.kind, bytes);
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
  // Eligibility depends only on the communicator and the collective (alwaysEligible so far), so
  // a choice holds for every call of the same collective and size.
  if (const Algorithm* known = comm.rememberedChoice(args.kind, bytes)) return *known;
  CostInputs in = costInputs(comm, args);
  const Algorithm* best = nullptr;
  double bestUs = 0;
  for (const Algorithm& a : kAlgorithms) {
    if (!a.serves(args.kind) || a.ineligible(comm, args) != nullptr) continue;
    double us = a.cost(in);
    if (best == nullptr || predictedFaster(us, bestUs)) {
      best = &a;
      bestUs = us;
    }
  }
  if (best != nullptr) {
    BRAID_TRACE(kTuning, "%s of %zu bytes over %d ranks: %s, predicted %.1f us",
                opKindName(args.kind), bytes, comm.nranks(), best->name, bestUs);
    comm.rememberChoice(args.kind, bytes, best);
    return *best;
  }
  fail(braidInternalError, "no algorithm serves ", opKindName(args.kind));
}

}  // namespace braid
