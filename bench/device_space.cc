// device_space.cc: the BufferSpace of CUDA device memory. Fill and check stage through a host
// copy; calls go on a stream of the benchmark's own, which the timed loop waits for before the
// clock stops (as nccl-tests does). Without CUDA in the build only the refusal is compiled.
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "harness.h"

#ifdef BRAID_BENCH_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace braid::bench {

#ifdef BRAID_BENCH_HAVE_CUDA
namespace {

void checkCuda(cudaError_t rc, const char* what) {
  if (rc == cudaSuccess) return;
  std::fflush(stdout);
  std::fprintf(stderr, "CUDA error in %s: %s\n", what, cudaGetErrorString(rc));
  std::exit(1);
}

// The GPU for this process: its rank on the host (from the launcher) modulo the GPUs there.
int localRank() {
  for (const char* name :
       {"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return std::atoi(value);
  }
  return 0;
}

class DeviceBufferSpace final : public BufferSpace {
 public:
  explicit DeviceBufferSpace(int device) : device_(device) {
    checkCuda(cudaSetDevice(device), "cudaSetDevice");
    cudaDeviceProp prop{};
    checkCuda(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
    name_ = prop.name;
    char bus[32];
    std::snprintf(bus, sizeof(bus), "%04x:%02x:%02x", prop.pciDomainID, prop.pciBusID,
                  prop.pciDeviceID);
    bus_ = bus;
    checkCuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~DeviceBufferSpace() override { cudaStreamDestroy(stream_); }

  const char* name() const override { return "device"; }
  void* allocate(size_t bytes) override {
    void* buffer = nullptr;
    if (cudaMalloc(&buffer, std::max<size_t>(bytes, 1)) != cudaSuccess) return nullptr;
    checkCuda(cudaMemset(buffer, 0, bytes), "cudaMemset");
    return buffer;
  }
  void release(void* buffer) override { cudaFree(buffer); }
  std::string deviceTag() const override { return bus_; }
  std::string deviceName() const override { return name_; }
  int deviceIndex() const override { return device_; }
  std::byte* map(void* buffer, size_t bytes) override {
    view_.resize(bytes);
    checkCuda(cudaMemcpy(view_.data(), buffer, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy");
    return view_.data();
  }
  void unmap(void* buffer, std::byte* view, size_t bytes, bool written) override {
    if (written) {
      checkCuda(cudaMemcpy(buffer, view, bytes, cudaMemcpyHostToDevice), "cudaMemcpy");
    }
  }
  braidStream_t stream() const override { return stream_; }
  void synchronize() override {
    checkCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

 private:
  int device_;
  std::string name_;
  std::string bus_;
  cudaStream_t stream_ = nullptr;
  std::vector<std::byte> view_;  // one mapping at a time is all fill and check need
};

}  // namespace

std::unique_ptr<BufferSpace> makeDeviceBufferSpace(bool required) {
  int count = 0;
  cudaError_t rc = cudaGetDeviceCount(&count);
  if (rc != cudaSuccess || count == 0) {
    if (required) {
      std::fprintf(stderr, "--device: no CUDA device (%s)\n",
                   rc != cudaSuccess ? cudaGetErrorString(rc) : "the driver reports 0 devices");
    }
    return nullptr;
  }
  return std::make_unique<DeviceBufferSpace>(localRank() % count);
}
#else
std::unique_ptr<BufferSpace> makeDeviceBufferSpace(bool required) {
  if (required) std::fprintf(stderr, "--device: this build of Braid has no CUDA support\n");
  return nullptr;
}
#endif

}  // namespace braid::bench
