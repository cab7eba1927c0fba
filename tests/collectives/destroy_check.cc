// A rank that runs ahead and destroys its communicator at once must not break the others' last
// calls: `braidrun -n N destroy_check broadcast|reduce|absent`. The eager ranks (the broadcast
// root, the reduce's leaves) make 3 calls, within the window of unchecked headers, and destroy
// straight away; the others start 300 ms later. Every rank checks its data (exact integers) and
// that every call and the destroy succeed. In `absent` the others never make the calls: they
// destroy after 7 s, and the root's destroy must still succeed, having waited no longer than
// its grace (about 5 s). Exit status 0 when all of that held on this rank.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "collectives/braid.h"

namespace {

constexpr int kCalls = 3;
constexpr size_t kCount = 1021;  // a prime: no chunk size divides it

int32_t valueOf(int call, int rank, size_t i) {
  return static_cast<int32_t>((call + 1) * 1000003 + rank * 7919 + static_cast<int64_t>(i));
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc == 2 ? argv[1] : "";
  if (mode != "broadcast" && mode != "reduce" && mode != "absent") {
    fprintf(stderr, "usage: destroy_check broadcast|reduce|absent\n");
    return 2;
  }
  braidComm_t comm = nullptr;
  if (braidCommInitFromEnv(&comm, nullptr) != braidSuccess) {
    fprintf(stderr, "init failed: %s\n", braidGetLastError(nullptr));
    return 2;
  }
  int rank = 0;
  int nranks = 0;
  braidCommUserRank(comm, &rank);
  braidCommCount(comm, &nranks);
  bool absent = mode == "absent";
  bool broadcast = mode != "reduce";
  bool eager = broadcast ? rank == 0 : rank != 0;
  if (!eager) std::this_thread::sleep_for(std::chrono::milliseconds(absent ? 7000 : 300));
  int failures = 0;
  for (int call = 0; call < kCalls && (eager || !absent); ++call) {
    std::vector<int32_t> in(kCount), out(kCount, -1);
    for (size_t i = 0; i < kCount; ++i)
      in[i] = valueOf(call, rank, i);
    braidResult_t rc =
        broadcast
            ? braidBroadcast(in.data(), out.data(), kCount, braidInt32, 0, comm, nullptr)
            : braidReduce(in.data(), out.data(), kCount, braidInt32, braidSum, 0, comm, nullptr);
    if (rc != braidSuccess) {
      fprintf(stderr, "rank %d: %s #%d failed: %s\n", rank, mode.c_str(), call,
              braidGetLastError(comm));
      ++failures;
      break;
    }
    if (!broadcast && rank != 0) continue;  // only the reduce's root has a result
    for (size_t i = 0; i < kCount; ++i) {
      int64_t expected = broadcast ? valueOf(call, 0, i) : 0;
      for (int r = 0; !broadcast && r < nranks; ++r)
        expected += valueOf(call, r, i);
      if (out[i] != static_cast<int32_t>(expected)) {
        fprintf(stderr, "rank %d: %s #%d element %zu is %d, not %lld\n", rank, mode.c_str(), call,
                i, out[i], static_cast<long long>(expected));
        ++failures;
        break;
      }
    }
  }
  auto start = std::chrono::steady_clock::now();
  if (braidCommDestroy(comm) != braidSuccess) {
    fprintf(stderr, "rank %d: destroy failed: %s\n", rank, braidGetLastError(nullptr));
    ++failures;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  if (absent && eager && ms > 6000) {
    fprintf(stderr, "rank %d: destroy took %lld ms, beyond its grace\n", rank,
            static_cast<long long>(ms));
    ++failures;
  }
  printf("rank %d: %d failures\n", rank, failures);
  return failures == 0 ? 0 : 1;
}
