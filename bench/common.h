// common.h: what a *_perf benchmark tells the shared harness about its collective.
//
// Each benchmark file (all_reduce.cc, ...) only describes one collective in a Collective: how a
// message size becomes the counts of the call, which bytes algbw counts and the bus-bandwidth
// factor, what every output element must hold, and how to issue the call. benchMain() does the
// rest the way nccl-tests does (same flags, same columns, same summary lines), so scripts and
// parsers written for nccl-tests read Braid's results unchanged.
#ifndef BRAID_BENCH_COMMON_H_
#define BRAID_BENCH_COMMON_H_

#include <cstddef>
#include <cstdint>

#include "collectives/braid.h"

namespace braid::bench {

// Prints "braid error in FILE:LINE '<result>' : <last error>" on stderr and exits with status 1.
// The peers of a failed rank see its connections close and fail in turn instead of hanging.
[[noreturn]] void failBraidCall(braidResult_t result, braidComm_t comm, const char* file, int line);

#define BRAID_BENCH_CHECK(comm, call)                                              \
  do {                                                                             \
    const braidResult_t braidBenchResult = (call);                                 \
    if (braidBenchResult != braidSuccess) {                                        \
      ::braid::bench::failBraidCall(braidBenchResult, (comm), __FILE__, __LINE__); \
    }                                                                              \
  } while (0)

// Element counts of one call, derived (as nccl-tests does) from the requested size in bytes. The
// size column shows the larger of the two buffers, the count column shows paramCount.
struct Counts {
  size_t sendCount = 0;          // elements of each rank's send buffer
  size_t recvCount = 0;          // elements of each rank's receive buffer
  size_t paramCount = 0;         // the count argument of the call
  size_t sendInPlaceOffset = 0;  // in place, the send buffer starts rank * this elements into recv
  size_t recvInPlaceOffset = 0;  // in place, the receive buffer starts rank * this elements in
};

// nccl-tests' per-rank count for collectives that split one buffer across the ranks: an equal
// share, rounded down to whole 16-byte groups so that every rank's block stays aligned.
size_t perRankCount(size_t count, size_t eltSize, int nranks);

enum class InPlace {
  kChecked,      // in place is a real mode of the call: time it and check it
  kUnchecked,    // sendbuff == recvbuff is allowed but leaves the result undefined: time only
  kUnsupported,  // the call forbids overlapping buffers: the in-place columns read N/A
};

// The data a check runs on. Element `index` of rank r's send buffer holds input(r, index), a small
// integer picked (per type, op and rank count) so that every result a collective can form from
// these values, partial results of a reduction in any order included, is exact in the element
// type. The expected output is therefore exact as well and is compared element by element.
class Pattern {
 public:
  struct Shape {
    int64_t lo = 0;     // inputs are drawn from [lo, hi] ...
    int64_t hi = 0;     //
    int window = 1;     // ... on `window` ranks per index; the other ranks hold the op's identity
    bool twos = false;  // prod: the inputs are 1 or 2
  };
  Pattern(const Shape& shape, braidRedOp_t op, int nranks, uint64_t seed);

  int64_t input(int rank, size_t index) const;
  // The reduction of input(r, index) over all ranks r; for avg the sum (the harness divides).
  int64_t reduced(size_t index) const;

 private:
  Shape shape_;
  braidRedOp_t op_;
  int nranks_;
  uint64_t seed_;
};

// Where this rank sits in the call being checked.
struct Layout {
  int rank = 0;
  int nranks = 1;
  int root = -1;  // -1 for collectives without a root
  Counts counts;
};

struct RunArgs {
  const void* sendbuff;
  void* recvbuff;
  size_t count;
  braidDataType_t type;
  braidRedOp_t op;
  int root;
  int rank;
  int nranks;
  braidComm_t comm;
  braidStream_t stream;  // NULL for host buffers
};

struct Collective {
  bool reduces;  // the op shapes the data and the result
  bool showsOp;  // the redop column shows the op and -o all loops over ops; otherwise "none"
  bool rooted;   // the root column and -r apply; otherwise the root column reads -1
  InPlace inPlace;
  Counts (*counts)(size_t count, size_t eltSize, int nranks);
  // The bytes that algbw divides by the time, as nccl-tests counts them for this collective.
  double (*algBytes)(const Counts& counts, size_t eltSize, int nranks);
  // busbw = algbw * busFactor, which makes numbers comparable across collectives and rank counts
  // (nccl-tests' doc/PERFORMANCE.md explains each factor).
  double (*busFactor)(int nranks);
  // Sets *value to what receive element `index` must hold (before avg's division by the rank
  // count); returns false where the output is unspecified.
  bool (*expected)(const Pattern& pattern, const Layout& layout, size_t index, int64_t* value);
  // Issues the call; failures go through BRAID_BENCH_CHECK.
  void (*run)(const RunArgs& args);
};

// Parses nccl-tests' flags, joins the communicator, runs the sweep and prints the report. Returns
// the process exit status.
int benchMain(int argc, char** argv, const Collective& collective);

}  // namespace braid::bench

#endif  // BRAID_BENCH_COMMON_H_
