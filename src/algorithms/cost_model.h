// The tuner's cost model. A message of b bytes over a link costs latencyUs + b / bytesPerUs;
// combining b bytes of input into an output costs b / reduceBytesPerUs. Each algorithm's cost
// function adds these up along its critical path (see cost_model.cc), and the default choice
// takes the algorithm predicted fastest. Both rates depend on where a call's buffers live: a
// call whose input and output fit in one core's cache moves and combines bytes several times
// faster than one that streams them from memory (shm on the development machine: 26 against
// 8 GB/s), so each rate is measured twice and a call gets the blend its size implies
// (cacheShare).
//
// The constants are measured, not guessed: built-in values come from this project's development
// machine, `braid-info --calibrate FILE` measures the machine it runs on and writes FILE, which
// BRAID_TUNING_FILE loads, and BRAID_TUNING overrides single constants on top, as
// `key=value,key=value` with the keys of the file (e.g. `shm.latency_us=0.4,tcp.gbps=2.5`).
#pragma once

#include <string>

#include "algorithms/algorithm.h"

namespace braid {

struct LinkCost {
  double latencyUs;   // per message: the sender's and receiver's fixed cost plus the wire's
  double bytesPerUs;  // one direction's throughput (1 GB/s = 1000 bytes/us)
};

struct LinkConstants {
  double latencyUs;
  double bytesPerUs;       // buffers streamed from memory
  double cacheBytesPerUs;  // buffers in cache
};

struct CostConstants {
  LinkConstants shm;
  LinkConstants tcp;
  LinkConstants ib;
  double reduceBytesPerUs;       // bytes of one input combined per us (out = a op b), from memory
  double reduceCacheBytesPerUs;  // the same in cache
  double cacheBytes;             // one core's cache (L2)
  std::string source;            // where the values came from, for braid-info and the log
};

// Built-in values, then BRAID_TUNING_FILE, then BRAID_TUNING; read once per process.
const CostConstants& costConstants();
// The same from explicit inputs (file path or "", overrides or ""), for tests and braid-info.
// Throws braidInvalidArgument naming the bad line or key.
CostConstants loadCostConstants(const std::string& file, const std::string& overrides);
// The file format loadCostConstants reads: one `key=value` per line, # comments.
std::string formatCostConstants(const CostConstants& c);
// The share of a call of `bytes` (messageBytes) that runs at the cache rates: 1 while its input
// and output take at most half the cache, 0 from twice the cache on, log-linear between.
double cacheShare(const CostConstants& c, size_t bytes);
// A link's and the reduction's cost for a call of `bytes`, its rates blended by cacheShare.
LinkCost linkCost(const CostConstants& c, const std::string& transport, size_t bytes);
double reduceRate(const CostConstants& c, size_t bytes);

// What a prediction depends on.
struct CostInputs {
  OpKind kind;
  int nranks;
  size_t bytes;       // messageBytes()
  int hosts;          // distinct hosts among the ranks
  LinkCost flat;      // the slowest link any rank uses (the one a flat algorithm waits on)
  LinkCost inside;    // between ranks of one host
  LinkCost across;    // between hosts (== inside on one host)
  size_t chunkBytes;  // the pipelined algorithms' chunk
  double reduceBytesPerUs;
};

// Each algorithm family's predicted time for one call, in us (Algorithm::cost); infinity where
// it brings nothing to the call (hierarchical on one host).
double ringCost(const CostInputs& in);
double recursiveDoublingCost(const CostInputs& in);
double halvingDoublingCost(const CostInputs& in);
double doubleBinaryTreeCost(const CostInputs& in);
double hierarchicalCost(const CostInputs& in);
double bruckCost(const CostInputs& in);
double binomialCost(const CostInputs& in);
double chainCost(const CostInputs& in);
double onlyChoiceCost(const CostInputs& in);  // alltoall and barrier have one algorithm each

}  // namespace braid
