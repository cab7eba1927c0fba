// Every registered algorithm forced (BRAID_ALGO=<name>) through the correctness matrix, for the
// collectives it serves, at 1, 2, 3, 4, 7 and 8 ranks as threads, over shm and tcp. The cases come
// from the registry itself, so an algorithm is covered from the day it is registered. Small chunks
// and two slots per connection exercise pipelining and flow control; the multi-megabyte size runs
// only up to 4 ranks, to keep the suite's time in bounds.
#include <gtest/gtest.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "algorithms/algorithm.h"
#include "support/matrix.h"
#include "support/thread_ranks.h"

namespace braid::test {
namespace {

// The matrix's name for each collective an algorithm can serve.
std::vector<std::string> collectivesServedBy(const Algorithm& a) {
  static const struct {
    OpKind kind;
    const char* name;
  } kKinds[] = {
      {OpKind::kAllReduce, "allreduce"},
      {OpKind::kReduce, "reduce"},
      {OpKind::kReduceScatter, "reducescatter"},
      {OpKind::kBroadcast, "broadcast"},
      {OpKind::kAllGather, "allgather"},
      {OpKind::kAlltoAll, "alltoall"},
      {OpKind::kBarrier, "barrier"},
  };
  std::vector<std::string> names;
  for (const auto& k : kKinds) {
    if (a.serves(k.kind)) names.push_back(k.name);
  }
  return names;
}

std::vector<const char*> algorithmNames() {
  std::vector<const char*> names;
  for (const Algorithm& a : algorithms())
    names.push_back(a.name);
  return names;
}

const Algorithm& algorithmNamed(const std::string& name) {
  for (const Algorithm& a : algorithms()) {
    if (name == a.name) return a;
  }
  throw std::invalid_argument(name);
}

// (algorithm, rank count, BRAID_TRANSPORT)
class EveryAlgorithm : public ::testing::TestWithParam<std::tuple<const char*, int, const char*>> {
};

TEST_P(EveryAlgorithm, ForcedThroughTheMatrix) {
  const Algorithm& algorithm = algorithmNamed(std::get<0>(GetParam()));
  int n = std::get<1>(GetParam());
  setenv("BRAID_ALGO", algorithm.name, 1);
  setenv("BRAID_TRANSPORT", std::get<2>(GetParam()), 1);
  setenv("BRAID_CHUNK_SIZE", "16K", 1);
  setenv("BRAID_NSLOTS", "2", 1);
  setenv("BRAID_TIMEOUT_MS", "60000", 1);
  MatrixOptions options;
  options.collectives = collectivesServedBy(algorithm);
  ASSERT_FALSE(options.collectives.empty()) << algorithm.name << " serves nothing";
  // 0, 1, primes, one element either side of a chunk, many chunks plus a remainder (prime).
  size_t chunk = (16 << 10) / 4;
  options.shapeSizes = {0, 1, 7, 1021, chunk - 1, chunk + 1, 131071};
  if (n <= 4) options.shapeSizes.push_back((size_t{4} << 20) + 3);
  auto failures = runRanks<int>(n, [&](braidComm_t comm, int) { return runMatrix(comm, options); });
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(failures[static_cast<size_t>(r)], 0) << "rank " << r;
  unsetenv("BRAID_CHUNK_SIZE");
  unsetenv("BRAID_NSLOTS");
  unsetenv("BRAID_ALGO");
  unsetenv("BRAID_TRANSPORT");
}

INSTANTIATE_TEST_SUITE_P(Algorithms, EveryAlgorithm,
                         ::testing::Combine(::testing::ValuesIn(algorithmNames()),
                                            ::testing::Values(1, 2, 3, 4, 7, 8),
                                            ::testing::Values("shm", "tcp")),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param)) + "_" +
                                  std::to_string(std::get<1>(info.param)) + "ranks_" +
                                  std::get<2>(info.param);
                         });

}  // namespace
}  // namespace braid::test
