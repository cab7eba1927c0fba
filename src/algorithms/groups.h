// Collectives over a group of a communicator's ranks: the building blocks of algorithms that run
// phases over different subsets (hierarchical: inside each host, then across hosts). `group`
// lists the members' ranks in an order every member agrees on, `me` is this rank's index in it,
// and roots are indices too. `divideBy` is applied once, to the finished values (n of the whole
// communicator for braidAvg; 1 otherwise); the reductions themselves combine avg like sum.
#pragma once

#include <numeric>
#include <span>
#include <vector>

#include "algorithms/algorithm.h"

namespace braid {

// 0, 1, ..., n-1: the whole communicator as a group.
inline std::vector<int> allRanks(const Comm& comm) {
  std::vector<int> ranks(static_cast<size_t>(comm.nranks()));
  std::iota(ranks.begin(), ranks.end(), 0);
  return ranks;
}

// Binomial tree (binomial_tree.cc). Broadcast: the root's send buffer to every member's receive
// buffer. Reduce: every member's send buffer combined into the root's receive buffer.
void treeBroadcastIn(Comm& comm, const CollArgs& args, std::span<const int> group, int me,
                     int root);
void treeReduceIn(Comm& comm, const CollArgs& args, std::span<const int> group, int me, int root,
                  int divideBy);

// Recursive halving-doubling allreduce (halving_doubling.cc).
void halvingDoublingAllReduceIn(Comm& comm, const CollArgs& args, std::span<const int> group,
                                int me, int divideBy);

}  // namespace braid
