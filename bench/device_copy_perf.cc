// device_copy_perf: the GPU's own limit for moving bytes, to hold collectives on device buffers
// against. Times cudaMemcpyAsync device to device at growing sizes on one GPU and prints the
// bandwidth counting bytes read plus bytes written (2 x size per copy), the figure a memory-bound
// collective is compared with. `device_copy_perf [-b MIN] [-e MAX] [-n ITERS]` (bytes, powers of
// two between). Exits 77 saying why where there is no CUDA device.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

void check(cudaError_t rc, const char* what) {
  if (rc == cudaSuccess) return;
  std::fprintf(stderr, "CUDA error in %s: %s\n", what, cudaGetErrorString(rc));
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  size_t minBytes = 1 << 20, maxBytes = size_t{1} << 30;
  int iters = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "-b") == 0)
      minBytes = std::strtoull(argv[i + 1], nullptr, 0);
    else if (std::strcmp(argv[i], "-e") == 0)
      maxBytes = std::strtoull(argv[i + 1], nullptr, 0);
    else if (std::strcmp(argv[i], "-n") == 0)
      iters = std::atoi(argv[i + 1]);
    else {
      std::fprintf(stderr, "usage: device_copy_perf [-b MIN] [-e MAX] [-n ITERS]\n");
      return 2;
    }
  }
  if (minBytes == 0 || minBytes > maxBytes || iters < 1) {
    std::fprintf(stderr, "device_copy_perf: need 0 < MIN <= MAX and ITERS >= 1\n");
    return 2;
  }
  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess || count == 0) {
    std::printf("SKIP device_copy_perf: no CUDA device (%s)\n",
                rc != cudaSuccess ? cudaGetErrorString(rc) : "the driver reports 0 devices");
    return 77;
  }
  cudaDeviceProp prop{};
  check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  std::printf("# device 0: %s\n#%12s %12s %14s\n", prop.name, "size (B)", "time (us)",
              "r+w (GB/s)");
  void *src = nullptr, *dst = nullptr;
  check(cudaMalloc(&src, maxBytes), "cudaMalloc");
  check(cudaMalloc(&dst, maxBytes), "cudaMalloc");
  check(cudaMemset(src, 1, maxBytes), "cudaMemset");
  cudaStream_t stream;
  check(cudaStreamCreate(&stream), "cudaStreamCreate");
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "cudaEventCreate");
  check(cudaEventCreate(&stop), "cudaEventCreate");
  for (size_t bytes = minBytes; bytes <= maxBytes && bytes != 0; bytes *= 2) {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream), "warm-up copy");
    check(cudaEventRecord(start, stream), "cudaEventRecord");
    for (int i = 0; i < iters; ++i)
      check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream), "cudaMemcpyAsync");
    check(cudaEventRecord(stop, stream), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    double seconds = ms / 1e3 / iters;
    std::printf(" %12zu %12.2f %14.1f\n", bytes, seconds * 1e6, 2.0 * bytes / seconds / 1e9);
  }
  cudaFree(src);
  cudaFree(dst);
  return 0;
}
