// The correctness matrix on device buffers, one process per rank on the one GPU:
// `braidrun -n N gpu_matrix_check`. `gpu_matrix_check --probe` only says whether there is a GPU
// (exit 0) or why not (exit 77), so a test can skip before launching ranks.
#include <cstdio>
#include <cstring>

#include "gpu_support.h"

int main(int argc, char** argv) {
  braid::test::skipWithoutGpu("gpu_matrix_check");
  if (argc == 2 && std::strcmp(argv[1], "--probe") == 0) return 0;
  if (argc != 1) {
    fprintf(stderr, "usage: gpu_matrix_check [--probe]\n");
    return 2;
  }
  braidComm_t comm = nullptr;
  if (braidCommInitFromEnv(&comm, nullptr) != braidSuccess) {
    fprintf(stderr, "init failed: %s\n", braidGetLastError(nullptr));
    return 2;
  }
  braid::test::DeviceMemory memory = braid::test::deviceMemoryOnNewStream();
  braid::test::MatrixOptions options;
  options.shapeSizes = braid::test::standardShapeSizes(512 << 10, 4);
  options.device = &memory;
  int failures = braid::test::runMatrix(comm, options);
  int rank = 0;
  braidCommUserRank(comm, &rank);
  braidCommDestroy(comm);
  GPU_CHECK(cudaStreamDestroy(static_cast<cudaStream_t>(memory.stream)));
  if (rank == 0 || failures > 0) printf("rank %d: %d failures\n", rank, failures);
  return failures == 0 ? 0 : 1;
}
