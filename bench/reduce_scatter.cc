// reduce_scatter.cc: reduce_scatter_perf, nccl-tests' reduce-scatter benchmark run on Braid.
//
// As in nccl-tests, the size is each rank's whole input: n blocks of count/n elements (rounded
// down to 16-byte groups), and the count column shows one block. Rank r receives the reduction of
// block r. algbw counts the whole input; busbw = algbw * (n-1)/n, since each rank sends all but
// the block it keeps. In place, rank r's output is block r of its input.
#include "common.h"

namespace {

using braid::bench::Collective;
using braid::bench::Counts;
using braid::bench::Layout;
using braid::bench::Pattern;
using braid::bench::RunArgs;

const Collective kReduceScatter = {
    .reduces = true,
    .showsOp = true,
    .rooted = false,
    .inPlace = braid::bench::InPlace::kChecked,
    .counts =
        [](size_t count, size_t eltSize, int nranks) {
          Counts counts;
          counts.paramCount = braid::bench::perRankCount(count, eltSize, nranks);
          counts.sendCount = counts.paramCount * static_cast<size_t>(nranks);
          counts.recvCount = counts.paramCount;
          counts.recvInPlaceOffset = counts.paramCount;
          return counts;
        },
    .algBytes =
        [](const Counts& counts, size_t eltSize, int nranks) {
          return static_cast<double>(counts.paramCount * eltSize) * nranks;
        },
    .busFactor = [](int nranks) { return static_cast<double>(nranks - 1) / nranks; },
    .expected =
        [](const Pattern& pattern, const Layout& layout, size_t index, int64_t* value) {
          const size_t block = static_cast<size_t>(layout.rank) * layout.counts.paramCount;
          *value = pattern.reduced(block + index);
          return true;
        },
    .run =
        [](const RunArgs& a) {
          BRAID_BENCH_CHECK(a.comm, braidReduceScatter(a.sendbuff, a.recvbuff, a.count, a.type,
                                                       a.op, a.comm, a.stream));
        },
};

}  // namespace

int main(int argc, char** argv) {
  return braid::bench::benchMain(argc, argv, kReduceScatter);
}
