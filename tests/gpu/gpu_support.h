// What the GPU suite shares: the skip rule and device memory for the correctness matrix. The
// suite needs no GoogleTest, so it builds wherever nvcc is (GPU machines often lack the rest).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "support/matrix.h"

namespace braid::test {

// ctest's SKIP_RETURN_CODE for the suite.
constexpr int kSkip = 77;

// Exits with kSkip, saying why, when this machine has no usable CUDA device.
inline void skipWithoutGpu(const char* program) {
  int n = 0;
  cudaError_t rc = cudaGetDeviceCount(&n);
  if (rc != cudaSuccess || n == 0) {
    printf("SKIP %s: no CUDA device (%s)\n", program,
           rc != cudaSuccess ? cudaGetErrorString(rc) : "the driver reports 0 devices");
    std::exit(kSkip);
  }
}

// Aborts the test on a failed CUDA call: its results would mean nothing.
#define GPU_CHECK(call)                                             \
  do {                                                              \
    cudaError_t gpu_check_rc = (call);                              \
    if (gpu_check_rc != cudaSuccess) {                              \
      fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, \
              cudaGetErrorString(gpu_check_rc));                    \
      std::exit(1);                                                 \
    }                                                               \
  } while (0)

// Stream-ordered: none of these waits for other streams (see DeviceMemory in matrix.h).
inline void* gpuAlloc(size_t bytes, void* stream) {
  void* p = nullptr;
  GPU_CHECK(cudaMallocAsync(&p, bytes == 0 ? 1 : bytes, static_cast<cudaStream_t>(stream)));
  return p;
}

inline void gpuFree(void* p, void* stream) {
  GPU_CHECK(cudaFreeAsync(p, static_cast<cudaStream_t>(stream)));
}

inline void gpuUpload(void* device, const void* host, size_t bytes, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  GPU_CHECK(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, s));
  GPU_CHECK(cudaStreamSynchronize(s));
}

inline void gpuDownload(void* host, const void* device, size_t bytes, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  GPU_CHECK(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost, s));
  GPU_CHECK(cudaStreamSynchronize(s));
}

inline std::string gpuSynchronize(void* stream) {
  cudaError_t rc = cudaStreamSynchronize(static_cast<cudaStream_t>(stream));
  return rc == cudaSuccess ? std::string() : cudaGetErrorString(rc);
}

// Device memory for the matrix on a new stream of the current device.
inline DeviceMemory deviceMemoryOnNewStream() {
  cudaStream_t s = nullptr;
  GPU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  DeviceMemory d;
  d.stream = s;
  d.alloc = gpuAlloc;
  d.release = gpuFree;
  d.upload = gpuUpload;
  d.download = gpuDownload;
  d.synchronize = gpuSynchronize;
  return d;
}

}  // namespace braid::test
