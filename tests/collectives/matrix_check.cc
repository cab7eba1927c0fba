// The correctness matrix as a program, one process per rank: `braidrun -n N matrix_check`.
// `--largest COUNT` replaces the largest element count (4 Mi + 3), for slow links such as the
// emulated verbs devices. Exit status 0 when every check passed on this rank.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "support/matrix.h"

int main(int argc, char** argv) {
  size_t largest = 0;
  if (argc == 3 && std::strcmp(argv[1], "--largest") == 0) {
    largest = std::strtoull(argv[2], nullptr, 10);
  }
  if (argc != 1 && largest == 0) {
    fprintf(stderr, "usage: matrix_check [--largest COUNT]\n");
    return 2;
  }
  braidComm_t comm = nullptr;
  if (braidCommInitFromEnv(&comm, nullptr) != braidSuccess) {
    fprintf(stderr, "init failed: %s\n", braidGetLastError(nullptr));
    return 2;
  }
  braid::test::MatrixOptions options;
  options.shapeSizes = braid::test::standardShapeSizes(512 << 10, 4);
  if (largest > 0) options.shapeSizes.back() = largest;
  int failures = braid::test::runMatrix(comm, options);
  int rank = 0;
  braidCommUserRank(comm, &rank);
  braidCommDestroy(comm);
  if (rank == 0 || failures > 0) printf("rank %d: %d failures\n", rank, failures);
  return failures == 0 ? 0 : 1;
}
