// reduce.cc: reduce_perf, nccl-tests' reduce benchmark run on Braid.
//
// The root receives the reduction of every rank's `count` elements; only its output is checked,
// since the others' receive buffers are unspecified. busbw = algbw: in a pipelined reduce every
// link carries the message once.
#include "common.h"

namespace {

using braid::bench::Collective;
using braid::bench::Counts;
using braid::bench::Layout;
using braid::bench::Pattern;
using braid::bench::RunArgs;

const Collective kReduce = {
    .reduces = true,
    .showsOp = true,
    .rooted = true,
    .inPlace = braid::bench::InPlace::kChecked,
    .counts =
        [](size_t count, size_t, int) {
          Counts counts;
          counts.sendCount = counts.recvCount = counts.paramCount = count;
          return counts;
        },
    .algBytes =
        [](const Counts& counts, size_t eltSize, int) {
          // One rank's buffer: the data the call reduces.
          return static_cast<double>(counts.paramCount * eltSize);
        },
    .busFactor = [](int) { return 1.0; },
    .expected =
        [](const Pattern& pattern, const Layout& layout, size_t index, int64_t* value) {
          if (layout.rank != layout.root) return false;
          *value = pattern.reduced(index);
          return true;
        },
    .run =
        [](const RunArgs& a) {
          BRAID_BENCH_CHECK(a.comm, braidReduce(a.sendbuff, a.recvbuff, a.count, a.type, a.op,
                                                a.root, a.comm, a.stream));
        },
};

}  // namespace

int main(int argc, char** argv) {
  return braid::bench::benchMain(argc, argv, kReduce);
}
