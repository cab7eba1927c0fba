// all_gather.cc: all_gather_perf, nccl-tests' allgather benchmark run on Braid.
//
// As in nccl-tests, the size is the gathered total: each rank contributes count/n elements
// (rounded down to 16-byte groups), and the count column shows that per-rank share. algbw counts
// the whole gathered buffer; busbw = algbw * (n-1)/n, since each rank receives all but its own
// block. In place, rank r's input is block r of the receive buffer.
#include "common.h"

namespace {

using braid::bench::Collective;
using braid::bench::Counts;
using braid::bench::Layout;
using braid::bench::Pattern;
using braid::bench::RunArgs;

const Collective kAllGather = {
    .reduces = false,
    .showsOp = false,
    .rooted = false,
    .inPlace = braid::bench::InPlace::kChecked,
    .counts =
        [](size_t count, size_t eltSize, int nranks) {
          Counts counts;
          counts.paramCount = braid::bench::perRankCount(count, eltSize, nranks);
          counts.sendCount = counts.paramCount;
          counts.recvCount = counts.paramCount * static_cast<size_t>(nranks);
          counts.sendInPlaceOffset = counts.paramCount;
          return counts;
        },
    .algBytes =
        [](const Counts& counts, size_t eltSize, int nranks) {
          return static_cast<double>(counts.paramCount * eltSize) * nranks;
        },
    .busFactor = [](int nranks) { return static_cast<double>(nranks - 1) / nranks; },
    .expected =
        [](const Pattern& pattern, const Layout& layout, size_t index, int64_t* value) {
          // Block b of the output is rank b's input.
          const size_t block = index / layout.counts.paramCount;
          *value = pattern.input(static_cast<int>(block), index % layout.counts.paramCount);
          return true;
        },
    .run =
        [](const RunArgs& a) {
          BRAID_BENCH_CHECK(
              a.comm, braidAllGather(a.sendbuff, a.recvbuff, a.count, a.type, a.comm, a.stream));
        },
};

}  // namespace

int main(int argc, char** argv) {
  return braid::bench::benchMain(argc, argv, kAllGather);
}
