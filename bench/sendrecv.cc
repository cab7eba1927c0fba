// sendrecv.cc: sendrecv_perf, nccl-tests' point-to-point benchmark run on Braid.
//
// Each rank sends `count` elements to rank+1 and receives as many from rank-1, both in one group
// so the ring cannot deadlock. busbw = algbw: every link carries the message once. Like nccl-tests
// it shows the op column (and loops over ops with -o all) although nothing is reduced, and its
// in-place mode (sending from and receiving into one buffer) is timed but not checked.
#include "common.h"

namespace {

using braid::bench::Collective;
using braid::bench::Counts;
using braid::bench::Layout;
using braid::bench::Pattern;
using braid::bench::RunArgs;

const Collective kSendRecv = {
    .reduces = false,
    .showsOp = true,
    .rooted = false,
    .inPlace = braid::bench::InPlace::kUnchecked,
    .counts =
        [](size_t count, size_t, int) {
          Counts counts;
          counts.sendCount = counts.recvCount = counts.paramCount = count;
          return counts;
        },
    .algBytes =
        [](const Counts& counts, size_t eltSize, int) {
          // One rank's message.
          return static_cast<double>(counts.paramCount * eltSize);
        },
    .busFactor = [](int) { return 1.0; },
    .expected =
        [](const Pattern& pattern, const Layout& layout, size_t index, int64_t* value) {
          *value = pattern.input((layout.rank + layout.nranks - 1) % layout.nranks, index);
          return true;
        },
    .run =
        [](const RunArgs& a) {
          const int sendPeer = (a.rank + 1) % a.nranks;
          const int recvPeer = (a.rank + a.nranks - 1) % a.nranks;
          BRAID_BENCH_CHECK(a.comm, braidGroupStart());
          BRAID_BENCH_CHECK(a.comm,
                            braidSend(a.sendbuff, a.count, a.type, sendPeer, a.comm, a.stream));
          BRAID_BENCH_CHECK(a.comm,
                            braidRecv(a.recvbuff, a.count, a.type, recvPeer, a.comm, a.stream));
          BRAID_BENCH_CHECK(a.comm, braidGroupEnd());
        },
};

}  // namespace

int main(int argc, char** argv) {
  return braid::bench::benchMain(argc, argv, kSendRecv);
}
