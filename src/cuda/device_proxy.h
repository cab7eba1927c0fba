// Stream-ordered calls on CUDA device buffers, staged through pinned host memory.
//
// A call on device buffers returns at once. What it leaves on the caller's stream is:
//   1. copies of the device buffers it reads into pinned staging memory;
//   2. a host function that hands the call to this communicator's proxy thread;
//   3. a one-thread kernel that waits until the proxy marks the call done, or the communicator is
//      aborted (both are words in host-mapped memory the kernel polls);
//   4. copies of the staged results back into the device buffers it writes.
// The proxy runs the call on the staged buffers with the host algorithms and transports, so every
// collective, algorithm and transport (shm, tcp, ib; one host or many) serves device buffers.
// All four steps are stream work, so the sequence can be captured in a CUDA graph and replayed:
// a captured call keeps its staging memory until the graph is destroyed.
//
// The proxy takes the calls in the order their host functions run, which is stream order; a
// communicator's ranks must put their calls on their streams in the same order, as with host
// buffers. Ranks driven from one process need a stream each: two ranks on one stream would wait
// for each other behind step 3 until the timeout ends it.
//
// A host-buffer call on a communicator with device work in flight first waits for that work to
// finish, so the two never run at once and keep their order. A graph launch counts as in flight
// only once the stream reaches it: synchronise the stream before a host-buffer call that must
// follow it.
//
// After a failure or an abort the call's output buffers hold undefined data (the copies back
// still run); the error comes from braidCommGetAsyncError. Staging memory is allocated on first
// need (cudaHostAlloc, in a few power-of-two sizes) and kept for reuse. Ranks as threads of one
// process share a CUDA context: with more than 8 of them, raise CUDA_DEVICE_MAX_CONNECTIONS so
// their streams do not share hardware queues (a host function queued behind another rank's
// waiting kernel would wait for the timeout).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace braid {

// A device buffer a call reads (in), writes (out) or both.
struct DeviceSpan {
  const void* ptr;
  size_t bytes;
  bool in;
  bool out;
};

class DeviceProxy {
 public:
  // Maps a pointer the call was given to the one its work must use: a device pointer inside one
  // of the call's spans becomes its staging copy, anything else is returned as it is.
  using Translate = std::function<void*(const void*)>;
  // Runs the call on the proxy thread; false when it failed (it records why itself).
  using Work = std::function<bool(const Translate&)>;

  // Whether this build has CUDA support (nvcc was found when it was configured).
  static bool available();

  // rank names the communicator's proxy in logs; timeoutMs bounds how long destruction waits for
  // work still on streams.
  DeviceProxy(int rank, int64_t timeoutMs);
  ~DeviceProxy();
  DeviceProxy(const DeviceProxy&) = delete;
  DeviceProxy& operator=(const DeviceProxy&) = delete;

  // Puts the call on stream (a cudaStream_t). Throws braidUnhandledCudaError when a CUDA call
  // fails (nothing of the call is left on the stream then, unless capture was under way).
  void enqueue(void* stream, const std::vector<DeviceSpan>& spans, Work work);

  // For a host-buffer call: waits until no device work is in flight (or the timeout passes, which
  // throws braidTimeout), then holds the proxy off until the returned lock is released.
  std::unique_lock<std::mutex> exclusive();
  // Holds the proxy off without waiting for the streams: waits only for the call it is running.
  std::unique_lock<std::mutex> hold();

  // Ends every waiting kernel of this communicator now and any later one at once.
  void abort();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace braid
