// The correctness matrix with ranks as threads, for 1, 2, 3, 4, 7 and 8 ranks. Runs with small
// chunks and two slots per connection, so pipelining and flow control are exercised on every size.
#include <gtest/gtest.h>

#include <cstdlib>

#include "support/matrix.h"
#include "support/thread_ranks.h"

namespace braid::test {
namespace {

class MatrixThreads : public ::testing::TestWithParam<int> {};

TEST_P(MatrixThreads, EveryCollectiveTypeOpSizeAndRoot) {
  setenv("BRAID_CHUNK_SIZE", "16K", 1);
  setenv("BRAID_NSLOTS", "2", 1);
  setenv("BRAID_TIMEOUT_MS", "60000", 1);
  MatrixOptions options;
  options.shapeSizes = standardShapeSizes(16 << 10, 4);
  int n = GetParam();
  auto failures = runRanks<int>(n, [&](braidComm_t comm, int) { return runMatrix(comm, options); });
  for (int r = 0; r < n; ++r)
    EXPECT_EQ(failures[static_cast<size_t>(r)], 0) << "rank " << r;
  unsetenv("BRAID_CHUNK_SIZE");
  unsetenv("BRAID_NSLOTS");
}

INSTANTIATE_TEST_SUITE_P(Ranks, MatrixThreads, ::testing::Values(1, 2, 3, 4, 7, 8),
                         [](const auto& info) { return std::to_string(info.param) + "ranks"; });

}  // namespace
}  // namespace braid::test
