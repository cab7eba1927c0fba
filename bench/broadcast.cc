// broadcast.cc: broadcast_perf, nccl-tests' broadcast benchmark run on Braid.
//
// Every rank receives the root's `count` elements (-r picks the root, -r all runs each in turn).
// busbw = algbw: in a pipelined broadcast every link carries the message once.
#include "common.h"

namespace {

using braid::bench::Collective;
using braid::bench::Counts;
using braid::bench::Layout;
using braid::bench::Pattern;
using braid::bench::RunArgs;

const Collective kBroadcast = {
    .reduces = false,
    .showsOp = false,
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
          // The root's buffer: the data the call delivers.
          return static_cast<double>(counts.paramCount * eltSize);
        },
    .busFactor = [](int) { return 1.0; },
    .expected =
        [](const Pattern& pattern, const Layout& layout, size_t index, int64_t* value) {
          *value = pattern.input(layout.root, index);
          return true;
        },
    .run =
        [](const RunArgs& a) {
          BRAID_BENCH_CHECK(a.comm, braidBroadcast(a.sendbuff, a.recvbuff, a.count, a.type, a.root,
                                                   a.comm, a.stream));
        },
};

}  // namespace

int main(int argc, char** argv) {
  return braid::bench::benchMain(argc, argv, kBroadcast);
}
