// The correctness matrix with ranks as threads, for 1, 2, 3, 4, 7 and 8 ranks. Runs with small
// chunks and two slots per connection, so pipelining and flow control are exercised on every size.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <tuple>

#include "support/matrix.h"
#include "support/thread_ranks.h"

namespace braid::test {
namespace {

// (rank count, BRAID_ALGO, BRAID_TRANSPORT): the default choice and the ring forced, over shared
// memory (what same-host ranks use) and over tcp.
class MatrixThreads : public ::testing::TestWithParam<std::tuple<int, const char*, const char*>> {};

TEST_P(MatrixThreads, EveryCollectiveTypeOpSizeAndRoot) {
  setenv("BRAID_ALGO", std::get<1>(GetParam()), 1);
  setenv("BRAID_TRANSPORT", std::get<2>(GetParam()), 1);
  setenv("BRAID_CHUNK_SIZE", "16K", 1);
  setenv("BRAID_NSLOTS", "2", 1);
  setenv("BRAID_TIMEOUT_MS", "60000", 1);
  MatrixOptions options;
  options.shapeSizes = standardShapeSizes(16 << 10, 4);
  int n = std::get<0>(GetParam());
  auto failures = runRanks<int>(n, [&](braidComm_t comm, int) { return runMatrix(comm, options); });
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(failures[static_cast<size_t>(r)], 0) << "rank " << r;
  unsetenv("BRAID_CHUNK_SIZE");
  unsetenv("BRAID_NSLOTS");
  unsetenv("BRAID_ALGO");
  unsetenv("BRAID_TRANSPORT");
}

INSTANTIATE_TEST_SUITE_P(Ranks, MatrixThreads,
                         ::testing::Combine(::testing::Values(1, 2, 3, 4, 7, 8),
                                            ::testing::Values("", "ring"),
                                            ::testing::Values("shm", "tcp")),
                         [](const auto& info) {
                           std::string algo = std::get<1>(info.param);
                           return std::to_string(std::get<0>(info.param)) + "ranks_" +
                                  (algo.empty() ? "default" : algo) + "_" + std::get<2>(info.param);
                         });

}  // namespace
}  // namespace braid::test
