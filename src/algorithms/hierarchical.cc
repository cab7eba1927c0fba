// Hierarchical collectives, for ranks spread over several hosts. Each host has a representative:
// the root where the root lives, else the host's lowest rank. Inside a host data moves along a
// binomial tree over shared memory; across hosts only the representatives take part, so each
// host's network link carries the data once per step instead of once per rank.
//  - allreduce: tree reduce to each representative, halving-doubling across them, tree broadcast
//    back inside each host;
//  - broadcast: tree broadcast across representatives from the root, then inside each host;
//  - reduce: tree reduce inside each host, then across representatives to the root.
// On a single host each is the plain binomial tree (allreduce: reduce, then broadcast).
#include <unordered_map>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/groups.h"

namespace braid {

namespace {

struct Hosts {
  std::vector<int> local;  // this host's ranks, its representative first, the rest in rank order
  std::vector<int> reps;   // each host's representative, hosts in order of their lowest rank
  int localMe = 0;         // this rank's index in local
  int repMe = -1;          // this rank's index in reps; -1 when it is not a representative
  int rootRep = 0;         // the root's index in reps
};

Hosts hostsOf(const Comm& comm, int root) {
  Hosts h;
  std::unordered_map<uint64_t, size_t> repIndex;
  uint64_t rootHost = comm.hostOf(root);
  for (int r = 0; r < comm.nranks(); ++r) {
    uint64_t host = comm.hostOf(r);
    if (repIndex.emplace(host, h.reps.size()).second) {
      h.reps.push_back(host == rootHost ? root : r);
    }
  }
  uint64_t myHost = comm.hostOf(comm.rank());
  int myRep = h.reps[repIndex[myHost]];
  h.local.push_back(myRep);
  for (int r = 0; r < comm.nranks(); ++r) {
    if (r != myRep && comm.hostOf(r) == myHost) h.local.push_back(r);
  }
  while (h.local[static_cast<size_t>(h.localMe)] != comm.rank())
    ++h.localMe;
  for (size_t i = 0; i < h.reps.size(); ++i) {
    if (h.reps[i] == comm.rank()) h.repMe = static_cast<int>(i);
    if (h.reps[i] == root) h.rootRep = static_cast<int>(i);
  }
  return h;
}

int finalDivisor(const Comm& comm, const CollArgs& a) {
  return a.op == braidAvg ? comm.nranks() : 1;
}

void hierarchicalAllReduce(Comm& comm, const CollArgs& a) {
  Hosts h = hostsOf(comm, 0);
  treeReduceIn(comm, a, h.local, h.localMe, 0, 1);
  CollArgs result = a;
  result.send = a.recv;  // from here on the representative's output holds the data
  if (h.repMe >= 0)
    halvingDoublingAllReduceIn(comm, result, h.reps, h.repMe, finalDivisor(comm, a));
  treeBroadcastIn(comm, result, h.local, h.localMe, 0);
}

void hierarchicalBroadcast(Comm& comm, const CollArgs& a) {
  Hosts h = hostsOf(comm, a.root);
  if (h.repMe >= 0) treeBroadcastIn(comm, a, h.reps, h.repMe, h.rootRep);
  CollArgs inside = a;
  inside.send = a.recv;  // the representative has it in its output now
  treeBroadcastIn(comm, inside, h.local, h.localMe, 0);
}

void hierarchicalReduce(Comm& comm, const CollArgs& a) {
  Hosts h = hostsOf(comm, a.root);
  CollArgs inside = a;
  // Only the root has an output buffer; other representatives keep their host's sum in scratch.
  if (h.repMe >= 0 && comm.rank() != a.root) {
    inside.recv = comm.scratch(a.count * a.typeSize);
  }
  treeReduceIn(comm, inside, h.local, h.localMe, 0, 1);
  if (h.repMe < 0) return;
  CollArgs across = a;
  across.send = inside.recv;
  treeReduceIn(comm, across, h.reps, h.repMe, h.rootRep, finalDivisor(comm, a));
}

}  // namespace

void runHierarchical(Comm& comm, const CollArgs& a) {
  switch (a.kind) {
    case OpKind::kBroadcast:
      return hierarchicalBroadcast(comm, a);
    case OpKind::kReduce:
      return hierarchicalReduce(comm, a);
    default:
      return hierarchicalAllReduce(comm, a);
  }
}

}  // namespace braid
