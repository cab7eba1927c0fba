// The correctness matrix as a program, one process per rank: `braidrun -n N matrix_check`.
// Exit status 0 when every check passed on this rank.
#include <cstdio>

#include "support/matrix.h"

int main() {
  braidComm_t comm = nullptr;
  if (braidCommInitFromEnv(&comm, nullptr) != braidSuccess) {
    fprintf(stderr, "init failed: %s\n", braidGetLastError(nullptr));
    return 2;
  }
  braid::test::MatrixOptions options;
  options.shapeSizes = braid::test::standardShapeSizes(512 << 10, 4);
  int failures = braid::test::runMatrix(comm, options);
  int rank = 0;
  braidCommUserRank(comm, &rank);
  braidCommDestroy(comm);
  if (rank == 0 || failures > 0) printf("rank %d: %d failures\n", rank, failures);
  return failures == 0 ? 0 : 1;
}
