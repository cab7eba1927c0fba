// alltoall.cc: alltoall_perf, nccl-tests' all-to-all benchmark run on Braid.
//
// As in nccl-tests, the size is each rank's whole send buffer: n blocks of count/n elements
// (rounded down to 16-byte groups), block j going to rank j; the count column shows one block.
// busbw = algbw * (n-1)/n, since a rank's own block never leaves it. braidAlltoAll forbids
// overlapping buffers, so the in-place columns read N/A (nccl-tests times them but cannot check
// them either).
#include "common.h"

namespace {

using braid::bench::Collective;
using braid::bench::Counts;
using braid::bench::Layout;
using braid::bench::Pattern;
using braid::bench::RunArgs;

const Collective kAlltoAll = {
    .reduces = false,
    .showsOp = false,
    .rooted = false,
    .inPlace = braid::bench::InPlace::kUnsupported,
    .counts =
        [](size_t count, size_t eltSize, int nranks) {
          Counts counts;
          counts.paramCount = braid::bench::perRankCount(count, eltSize, nranks);
          counts.sendCount = counts.recvCount = counts.paramCount * static_cast<size_t>(nranks);
          return counts;
        },
    .algBytes =
        [](const Counts& counts, size_t eltSize, int nranks) {
          return static_cast<double>(counts.paramCount * eltSize) * nranks;
        },
    .busFactor = [](int nranks) { return static_cast<double>(nranks - 1) / nranks; },
    .expected =
        [](const Pattern& pattern, const Layout& layout, size_t index, int64_t* value) {
          // Block j of the output is block `rank` of rank j's input.
          const size_t block = index / layout.counts.paramCount;
          const size_t offset = index % layout.counts.paramCount;
          *value =
              pattern.input(static_cast<int>(block),
                            static_cast<size_t>(layout.rank) * layout.counts.paramCount + offset);
          return true;
        },
    .run =
        [](const RunArgs& a) {
          BRAID_BENCH_CHECK(
              a.comm, braidAlltoAll(a.sendbuff, a.recvbuff, a.count, a.type, a.comm, a.stream));
        },
};

}  // namespace

int main(int argc, char** argv) {
  return braid::bench::benchMain(argc, argv, kAlltoAll);
}
