// Hierarchical allreduce, for ranks spread over several hosts: the ranks of each host reduce to
// their host's leader (its lowest rank) along a binomial tree, the leaders allreduce among
// themselves by recursive halving-doubling, and each leader broadcasts the result back along the
// tree. Inside a host the data moves over shared memory; across hosts only one rank per host
// sends and receives, once per halving-doubling step, instead of every rank as in a flat ring or
// tree. On a single host it is a tree reduce followed by a tree broadcast.
#include <unordered_map>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/groups.h"

namespace braid {

void hierarchicalAllReduce(Comm& comm, const CollArgs& a) {
  std::vector<int> local;    // this host's ranks, its leader first
  std::vector<int> leaders;  // each host's lowest rank, in rank order
  std::unordered_map<uint64_t, int> leaderOfHost;
  uint64_t myHost = comm.hostOf(comm.rank());
  for (int r = 0; r < comm.nranks(); ++r) {
    uint64_t host = comm.hostOf(r);
    if (leaderOfHost.emplace(host, r).second) leaders.push_back(r);
    if (host == myHost) local.push_back(r);
  }
  int localMe = 0;
  while (local[static_cast<size_t>(localMe)] != comm.rank())
    ++localMe;
  treeReduceIn(comm, a, local, localMe, 0, 1);
  CollArgs result = a;
  result.send = a.recv;  // from here on the leader's output holds the data
  if (localMe == 0) {
    int leaderMe = 0;
    while (leaders[static_cast<size_t>(leaderMe)] != comm.rank())
      ++leaderMe;
    halvingDoublingAllReduceIn(comm, result, leaders, leaderMe,
                               a.op == braidAvg ? comm.nranks() : 1);
  }
  treeBroadcastIn(comm, result, local, localMe, 0);
}

}  // namespace braid
