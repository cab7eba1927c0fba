// The algorithm registry and BRAID_ALGO. Grammar: a list separated by ';' of either a name
// ("ring": use it for every collective it serves) or collective=name ("allreduce=ring").
// Collectives: allreduce, broadcast, reduce, allgather, reducescatter, alltoall, barrier.
#include <sstream>

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

// Registry order is preference order: the first eligible algorithm runs unless BRAID_ALGO says.
constexpr Algorithm kAlgorithms[] = {
    {"recdbl", "recursive doubling: log2(n) whole-buffer exchanges; for small messages",
     servesAllReduce, recursiveDoublingIneligible, recursiveDoublingAllReduce},
    {"ring", "pipelined ring: reduce-scatter then allgather; bandwidth-optimal", servesRingKinds,
     alwaysEligible, runRing},
    {"chain", "pipelined chain along the ring from (broadcast) or to (reduce) the root",
     servesChainKinds, alwaysEligible, runChain},
    {"pairwise", "every pair exchanges its block directly, all pairs at once", servesAlltoAll,
     alwaysEligible, pairwiseAlltoAll},
    {"dissemination", "log2(n) rounds of signals to rank+2^k", servesBarrier, alwaysEligible,
     disseminationBarrier},
};

const char* collectiveKey(OpKind k) {
  switch (k) {
    case OpKind::kAllReduce:
      return "allreduce";
    case OpKind::kBroadcast:
      return "broadcast";
    case OpKind::kReduce:
      return "reduce";
    case OpKind::kAllGather:
      return "allgather";
    case OpKind::kReduceScatter:
      return "reducescatter";
    case OpKind::kAlltoAll:
      return "alltoall";
    case OpKind::kBarrier:
      return "barrier";
    default:
      return "";
  }
}

const Algorithm* findByName(const std::string& name) {
  for (const Algorithm& a : kAlgorithms) {
    if (name == a.name) return &a;
  }
  return nullptr;
}

// The algorithm BRAID_ALGO names for this collective, or nullptr when it names none.
const Algorithm* forcedAlgorithm(const std::string& spec, OpKind kind) {
  std::stringstream items(spec);
  const Algorithm* chosen = nullptr;
  for (std::string item; std::getline(items, item, ';');) {
    if (item.empty()) continue;
    size_t eq = item.find('=');
    std::string coll = eq == std::string::npos ? "" : item.substr(0, eq);
    std::string name = eq == std::string::npos ? item : item.substr(eq + 1);
    const Algorithm* a = findByName(name);
    if (a == nullptr) fail(braidInvalidArgument, "BRAID_ALGO: unknown algorithm '", name, "'");
    if (coll.empty()) {
      if (a->serves(kind)) chosen = a;
    } else if (coll == collectiveKey(kind)) {
      if (!a->serves(kind)) {
        fail(braidInvalidArgument, "BRAID_ALGO: algorithm '", name, "' does not serve ", coll);
      }
      chosen = a;
    }
  }
  return chosen;
}

}  // namespace

std::span<const Algorithm> algorithms() {
  return kAlgorithms;
}

const Algorithm& chooseAlgorithm(const Comm& comm, const CollArgs& args) {
  if (!comm.settings().algo.empty()) {
    const Algorithm* forced = forcedAlgorithm(comm.settings().algo, args.kind);
    if (forced != nullptr) {
      const char* why = forced->ineligible(comm, args);
      if (why != nullptr) {
        fail(braidInvalidArgument, "BRAID_ALGO forces '", forced->name, "', which cannot run ",
             opKindName(args.kind), ": ", why);
      }
      return *forced;
    }
  }
  for (const Algorithm& a : kAlgorithms) {
    if (a.serves(args.kind) && a.ineligible(comm, args) == nullptr) {
      BRAID_TRACE(kTuning, "%s: %s (first eligible)", opKindName(args.kind), a.name);
      return a;
    }
  }
  fail(braidInternalError, "no algorithm serves ", opKindName(args.kind));
}

}  // namespace braid
