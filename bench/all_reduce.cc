// all_reduce.cc: all_reduce_perf, nccl-tests' allreduce benchmark run on Braid.
//
// Every rank sends and receives `count` elements. busbw = algbw * 2(n-1)/n: a ring allreduce sends
// each byte across every link twice (reduce-scatter, then allgather), less the 1/n a rank keeps.
#include "common.h"

namespace {

using braid::bench::Collective;
using braid::bench::Counts;
using braid::bench::Layout;
using braid::bench::Pattern;
using braid::bench::RunArgs;

const Collective kAllReduce = {
    .reduces = true,
    .showsOp = true,
    .rooted = false,
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
    .busFactor = [](int nranks) { return 2.0 * (nranks - 1) / nranks; },
    .expected =
        [](const Pattern& pattern, const Layout&, size_t index, int64_t* value) {
          *value = pattern.reduced(index);
          return true;
        },
    .run =
        [](const RunArgs& a) {
          BRAID_BENCH_CHECK(a.comm, braidAllReduce(a.sendbuff, a.recvbuff, a.count, a.type, a.op,
                                                   a.comm, a.stream));
        },
};

}  // namespace

int main(int argc, char** argv) {
  return braid::bench::benchMain(argc, argv, kAllReduce);
}
