// The tuner's cost model. A message of b bytes over a link costs latencyUs, plus its first
// kRampBytes at rampBytesPerUs (a short message's cache lines cross one by one; a long one's
// stream), plus the rest at the link's rate; combining b bytes of input into an output costs
// b / reduceBytesPerUs. A link has two rates: one for a copy straight into the receiver's buffer,
// and a staged one for exchanges, where every rank sends into its peer's slots and combines
// from its own at once (shm on the development machine: 28 against 8 GB/s in cache; a chain or
// tree reduce, whose ranks mostly either send or combine, runs near the first). Each algorithm's
// cost function adds these up along its critical path (see cost_model.cc), and the default choice
// takes the algorithm predicted fastest. The rates depend on where a call's buffers live: a call
// whose input and output fit in one core's cache moves and combines bytes several times faster than
// one that streams them from memory, so each rate is measured both ways and a call gets the blend
// its size implies (cacheShare).
//
// The constants are measured, not guessed: built-in values come from this project's development
// machine, `braid-info --calibrate FILE` measures the machine it runs on and writes FILE, which
// BRAID_TUNING_FILE loads, and BRAID_TUNING overrides single constants on top, as
// `key=value,key=value` with the keys of the file (e.g. `shm.latency_us=0.4,tcp.gbps=2.5`).
#pragma once

#include <string>

#include "algorithms/algorithm.h"

namespace braid {

// A message's first bytes, which move at the ramp rate. With the ramp rate measured at 2 KiB, this
// fits 2-rank shm broadcasts from 1 to 64 KiB within 10% (docs/benchmarks.md).
constexpr double kRampBytes = 4096;

struct LinkCost {
  double latencyUs;         // per message: the sender's and receiver's fixed cost plus the wire's
  double bytesPerUs;        // one direction's throughput into the receiver's buffer (1 GB/s =
                            // 1000 bytes/us)
  double stagedBytesPerUs;  // the same in an exchange (see above)
  double rampBytesPerUs;    // a message's first kRampBytes
};

struct LinkConstants {
  double latencyUs;
  double bytesPerUs;             // buffers streamed from memory
  double cacheBytesPerUs;        // buffers in cache
  double stagedCacheBytesPerUs;  // buffers in cache, in an exchange
  double rampBytesPerUs;
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
// One link's lines of that format, keys prefixed with `name` ("shm", "tcp" or "ib").
std::string formatLinkConstants(const std::string& name, const LinkConstants& l);
// The share of a call of `bytes` (messageBytes) that runs at the cache rates: 1 while its input
// and output take at most half the cache, 0 from twice the cache on, log-linear between.
double cacheShare(const CostConstants& c, size_t bytes);
// A link's and the reduction's cost for a call of `bytes`, its rates blended by cacheShare. With
// more ranks than cores on a host (ranksPerCore = f > 1) each rank has 1/f of a core, so rates
// are divided by f, and a message also waits for its receiver's time slice: latencies are
// multiplied by f^2, which fits 4 ranks on 2 cores (scripts/model-check.sh build 4: 10 of 48
// cells within 30% unscaled, 22 with latency x f, 26 with f^2) and keeps recursive doubling
// ahead of halving-doubling at 8 KiB on 8 ranks, as measured there (20-27 against 27-45 us).
LinkCost linkCost(const CostConstants& c, const std::string& transport, size_t bytes,
                  double ranksPerCore = 1);
double reduceRate(const CostConstants& c, size_t bytes, double ranksPerCore = 1);

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

// Whether a prediction of `us` beats the best so far: by more than 1%, since the model is not
// that precise (where two algorithms move the same bytes, as the ring and recursive halving do
// at large sizes, rounding alone would pick one); closer ones are ties, which the registry's
// order breaks.
inline bool predictedFaster(double us, double bestUs) {
  return us < bestUs * 0.99;
}

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
