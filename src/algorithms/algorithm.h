// Algorithms and their registry. An algorithm has a name, a one-line description, the operations
// it serves, an eligibility check that can say "not for this call" (and why), a cost function
// (cost_model.h), and a run function written only against Comm's connections and wait loop.
// chooseAlgorithm() applies BRAID_ALGO (algo_spec.h) and otherwise takes the eligible algorithm
// the cost model predicts fastest (registry order breaks ties).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "collectives/braid.h"
#include "core/comm.h"

namespace braid {

struct CostInputs;

// One collective call, after argument checks.
struct CollArgs {
  OpKind kind;
  const void* send;
  void* recv;
  size_t count;  // as the API call counts it (per rank for allgather/reduce-scatter/alltoall)
  braidDataType_t type;
  braidRedOp_t op;
  int root;
  size_t typeSize;
};

struct Algorithm {
  const char* name;
  const char* description;
  bool (*serves)(OpKind kind);
  // nullptr when the algorithm can run this call, else the reason it cannot.
  const char* (*ineligible)(const Comm& comm, const CollArgs& args);
  // The cost model's time for a call, in us (cost_model.h): the default choice takes the
  // eligible algorithm predicted fastest. BRAID_ALGO can force any.
  double (*cost)(const CostInputs& in);
  // Posts and processes the call's transfers; the caller then waits until all have finished
  // (Comm::waitAllDone), so an algorithm may return with sends still in flight.
  void (*run)(Comm& comm, const CollArgs& args);
};

std::span<const Algorithm> algorithms();
const Algorithm& chooseAlgorithm(Comm& comm, const CollArgs& args);
// What the cost model needs to know about a call on comm.
CostInputs costInputs(const Comm& comm, const CollArgs& args);
// A call's size for algorithm choice: its largest buffer in bytes (count x type size, times the
// rank count for allgather, reduce-scatter and alltoall).
size_t messageBytes(const Comm& comm, const CollArgs& args);

// The algorithms, defined one family per file.
void ringAllReduce(Comm& comm, const CollArgs& args);
void recursiveDoublingAllReduce(Comm& comm, const CollArgs& args);
void halvingDoublingAllReduce(Comm& comm, const CollArgs& args);
void doubleBinaryTreeAllReduce(Comm& comm, const CollArgs& args);
void runHierarchical(Comm& comm, const CollArgs& args);  // allreduce, broadcast, reduce
void halvingReduceScatter(Comm& comm, const CollArgs& args);
void ringReduceScatter(Comm& comm, const CollArgs& args);
void ringAllGather(Comm& comm, const CollArgs& args);
void bruckAllGather(Comm& comm, const CollArgs& args);
void chainBroadcast(Comm& comm, const CollArgs& args);
// A broadcast root's part, shared by the chain and the trees: queues every chunk of its input to
// each of `children` (ranks), then, out of place, makes its own copy chunk by chunk while they
// travel.
void sendFromBroadcastRoot(Comm& comm, const CollArgs& args, const std::vector<int>& children);
void chainReduce(Comm& comm, const CollArgs& args);
void binomialBroadcast(Comm& comm, const CollArgs& args);
void binomialReduce(Comm& comm, const CollArgs& args);
void pairwiseAlltoAll(Comm& comm, const CollArgs& args);
void disseminationBarrier(Comm& comm, const CollArgs& args);

}  // namespace braid
