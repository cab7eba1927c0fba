// The correctness matrix on device buffers, ranks as threads on the one GPU (a stream each):
// `gpu_matrix_threads N`. Exit status 0 when every check passed on every rank.
#include <cstdio>
#include <cstdlib>

#include "gpu_support.h"
#include "support/thread_ranks.h"

int main(int argc, char** argv) {
  if (argc != 2 || std::atoi(argv[1]) < 1) {
    fprintf(stderr, "usage: gpu_matrix_threads NRANKS\n");
    return 2;
  }
  braid::test::skipWithoutGpu("gpu_matrix_threads");
  int n = std::atoi(argv[1]);
  auto failures = braid::test::runRanks<int>(n, [](braidComm_t comm, int) {
    GPU_CHECK(cudaSetDevice(0));
    braid::test::DeviceMemory memory = braid::test::deviceMemoryOnNewStream();
    braid::test::MatrixOptions options;
    options.shapeSizes = braid::test::standardShapeSizes(512 << 10, 4);
    options.device = &memory;
    int f = braid::test::runMatrix(comm, options);
    GPU_CHECK(cudaStreamDestroy(static_cast<cudaStream_t>(memory.stream)));
    return f;
  });
  int total = 0;
  for (int f : failures)
    total += f;
  printf("gpu_matrix_threads %d ranks: %d failures\n", n, total);
  return total == 0 ? 0 : 1;
}
