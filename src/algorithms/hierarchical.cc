// Hierarchical collectives, for ranks spread over several hosts. Each host has a representative:
// the root where the root lives, else the host's lowest rank. Inside a host data moves along a
// binomial tree over shared memory; across hosts only the representatives take part, so each
// host's network link carries the data once per step instead of once per rank.
//  - allreduce: tree reduce to each representative, halving-doubling across them, tree broadcast
//    back inside each host;
//  - broadcast: tree broadcast across representatives from the root, then inside each host;
//  - reduce: tree reduce inside each host, then across representatives to the root;
//  - allgather: each rank's block to its representative, a ring across the representatives
//    passing each host's blocks on, then a tree broadcast of the whole output inside each host.
// On a single host each is the plain binomial tree (allreduce: reduce, then broadcast).
#include <cstring>
#include <unordered_map>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/chunks.h"
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

// The ranks of each host, hosts in the order of Hosts::reps.
std::vector<std::vector<int>> ranksByHost(const Comm& comm, const Hosts& h) {
  std::vector<std::vector<int>> byHost(h.reps.size());
  for (int r = 0; r < comm.nranks(); ++r) {
    for (size_t i = 0; i < h.reps.size(); ++i) {
      if (comm.hostOf(r) == comm.hostOf(h.reps[i])) byHost[i].push_back(r);
    }
  }
  return byHost;
}

void hierarchicalAllGather(Comm& comm, const CollArgs& a) {
  Hosts h = hostsOf(comm, 0);
  size_t block = a.count * a.typeSize;
  char* out = static_cast<char*>(a.recv);
  char* own = out + static_cast<size_t>(comm.rank()) * block;
  if (a.send != own && block > 0) std::memcpy(own, a.send, block);
  if (comm.nranks() == 1 || block == 0) return;
  int rep = h.local[0];
  if (h.repMe < 0) {
    comm.connection(rep).postSendDirect(own, block);
  } else {
    // Every block of this host first: the ring passes them on as a whole.
    for (size_t i = 1; i < h.local.size(); ++i) {
      int r = h.local[i];
      comm.connection(r).postRecv(out + static_cast<size_t>(r) * block, block);
    }
    for (size_t i = 1; i < h.local.size(); ++i) {
      Connection& c = comm.connection(h.local[i]);
      comm.wait([&] { return c.recvReady(); }, c.peer(), "waiting for data from");
      c.recvDone();
    }
    // Step s: send host (me - s)'s blocks to the next representative, receive host
    // (me - s - 1)'s from the previous one. Every receive lands in the output and is posted
    // before the step's sends.
    int hosts = static_cast<int>(h.reps.size());
    std::vector<std::vector<int>> byHost = ranksByHost(comm, h);
    int next = h.reps[static_cast<size_t>(wrap(h.repMe + 1, hosts))];
    int prev = h.reps[static_cast<size_t>(wrap(h.repMe - 1, hosts))];
    for (int s = 0; s + 1 < hosts; ++s) {
      const std::vector<int>& sending = byHost[static_cast<size_t>(wrap(h.repMe - s, hosts))];
      const std::vector<int>& coming = byHost[static_cast<size_t>(wrap(h.repMe - s - 1, hosts))];
      Connection& from = comm.connection(prev);
      for (int r : coming)
        from.postRecv(out + static_cast<size_t>(r) * block, block);
      for (int r : sending)
        comm.connection(next).postSendDirect(out + static_cast<size_t>(r) * block, block);
      for (size_t i = 0; i < coming.size(); ++i) {
        comm.wait([&] { return from.recvReady(); }, prev, "waiting for data from");
        from.recvDone();
      }
    }
  }
  CollArgs whole = a;
  whole.count = a.count * static_cast<size_t>(comm.nranks());
  whole.send = out;
  treeBroadcastIn(comm, whole, h.local, h.localMe, 0);
}

}  // namespace

void runHierarchical(Comm& comm, const CollArgs& a) {
  switch (a.kind) {
    case OpKind::kAllGather:
      return hierarchicalAllGather(comm, a);
    case OpKind::kBroadcast:
      return hierarchicalBroadcast(comm, a);
    case OpKind::kReduce:
      return hierarchicalReduce(comm, a);
    default:
      return hierarchicalAllReduce(comm, a);
  }
}

}  // namespace braid
