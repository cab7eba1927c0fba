// DeviceProxy with the CUDA runtime: staging memory, the stream work of device_proxy.h and the
// proxy thread.
#include "cuda/device_proxy.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "cuda/kernels.h"

namespace braid {

namespace {

void check(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) fail(braidUnhandledCudaError, what, ": ", cudaGetErrorString(rc));
}

// Allocations made while the caller's stream is being captured: global capture mode would refuse
// them, and they are not stream work anyway.
class RelaxedCapture {
 public:
  RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  ~RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode_); }
  RelaxedCapture(const RelaxedCapture&) = delete;
  RelaxedCapture& operator=(const RelaxedCapture&) = delete;

 private:
  cudaStreamCaptureMode mode_ = cudaStreamCaptureModeRelaxed;
};

// A host-mapped, portable pinned block: the GPU reads and writes it directly.
void* allocPinned(size_t bytes) {
  RelaxedCapture relaxed;
  void* p = nullptr;
  check(cudaHostAlloc(&p, bytes, cudaHostAllocMapped | cudaHostAllocPortable), "cudaHostAlloc");
  return p;
}

void* devicePointerOf(void* pinned) {
  void* d = nullptr;
  check(cudaHostGetDevicePointer(&d, pinned, 0), "cudaHostGetDevicePointer");
  return d;
}

// Makes the stream's device current for the calls that follow (a group may be enqueued from a
// thread whose current device is another), and restores the caller's on the way out.
class StreamDevice {
 public:
  explicit StreamDevice(cudaStream_t stream) {
    if (stream == nullptr) return;  // the legacy stream belongs to the current device
    int device = 0;
    check(cudaStreamGetDevice(stream, &device), "cudaStreamGetDevice");
    check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (device != previous_) {
      check(cudaSetDevice(device), "cudaSetDevice");
      switched_ = true;
    }
  }
  ~StreamDevice() {
    if (switched_) cudaSetDevice(previous_);
  }
  StreamDevice(const StreamDevice&) = delete;
  StreamDevice& operator=(const StreamDevice&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

constexpr size_t kAlign = 64;

size_t roundUp(size_t n) {
  return (n + kAlign - 1) / kAlign * kAlign;
}

}  // namespace

struct DeviceProxy::Impl {
  // One call's staging: a pinned block whose first line is the done word (0 posted, 1 done, 2
  // failed) and the rest the staged buffers.
  struct Region {
    const char* device;
    size_t bytes;
    size_t offset;  // into staging
    bool in;
    bool out;
  };
  struct Item;
  // What the stream's host functions touch. Every item holds it, so a host function that runs
  // after the proxy is gone (a graph replayed or destroyed after its communicator) finds it alive
  // and closed, and then ends its call at once instead of queueing it.
  struct Shared {
    std::mutex mu;
    std::condition_variable wake;  // the proxy: an item was posted, or stop
    std::condition_variable idle;  // waiters for in-flight work to end
    std::deque<Item*> queue;       // posted, not yet run
    int inFlight = 0;  // eager calls enqueued and not yet released, plus posted graph calls not run
    bool closed = false;  // the proxy has stopped
  };
  struct Item {
    std::shared_ptr<Shared> shared;
    char* block = nullptr;
    size_t capacity = 0;  // staging bytes after the done word
    uint32_t* doneOnDevice = nullptr;
    std::vector<Region> regions;
    Work work;
    bool captured = false;          // enqueued while its stream was being captured
    std::atomic<bool> busy{false};  // enqueued eagerly and not yet released, or held by a graph
    uint32_t* done() { return reinterpret_cast<uint32_t*>(block); }
    char* staging() { return block + kAlign; }
  };

  int rank;
  int64_t timeoutMs;
  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::vector<std::unique_ptr<Item>> items;  // guarded by shared->mu
  std::mutex execMu;  // held while a call runs on the host, by the proxy or a host-buffer call
  uint32_t* abortWord = nullptr;
  uint32_t* abortOnDevice = nullptr;
  std::thread proxy;

  Impl(int r, int64_t t) : rank(r), timeoutMs(t) {
    abortWord = static_cast<uint32_t*>(allocPinned(kAlign));
    *abortWord = 0;
    abortOnDevice = static_cast<uint32_t*>(devicePointerOf(abortWord));
    proxy = std::thread([this] { loop(); });
  }

  ~Impl() {
    bool drained;
    {
      std::unique_lock<std::mutex> lock(shared->mu);
      drained = waitIdle(lock);
      shared->closed = true;
      shared->wake.notify_all();
    }
    proxy.join();
    // Whatever a stream or a graph may still touch stays allocated, and every kernel still
    // waiting is told to end.
    bool kept = !drained;
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      for (Item* item : shared->queue)
        __atomic_store_n(item->done(), 2u, __ATOMIC_RELEASE);
      shared->queue.clear();
      for (auto& item : items) {
        if (drained && !item->busy.load()) continue;
        item.release();
        kept = true;
      }
    }
    for (auto& item : items) {
      if (item) cudaFreeHost(item->block);
    }
    if (!kept) {
      cudaFreeHost(abortWord);
      return;
    }
    __atomic_store_n(abortWord, 1u, __ATOMIC_RELEASE);
    BRAID_WARN(kColl,
               "rank %d: destroyed with device work still on a stream or held by a CUDA graph; "
               "its pinned memory is kept and its calls end unrun",
               rank);
  }

  bool waitIdle(std::unique_lock<std::mutex>& lock) {
    auto quiet = [&] { return shared->inFlight == 0; };
    if (timeoutMs <= 0) {
      shared->idle.wait(lock, quiet);
      return true;
    }
    return shared->idle.wait_for(lock, std::chrono::milliseconds(timeoutMs), quiet);
  }

  void loop() {
    LogRankScope scope(rank);
    Shared& sh = *shared;
    for (;;) {
      Item* item;
      {
        std::unique_lock<std::mutex> lock(sh.mu);
        sh.wake.wait(lock, [&] { return sh.closed || !sh.queue.empty(); });
        if (sh.closed) return;
        item = sh.queue.front();
        sh.queue.pop_front();
      }
      bool ok = false;
      {
        std::lock_guard<std::mutex> exec(execMu);
        try {
          ok = item->work([item](const void* p) { return translate(*item, p); });
        } catch (const std::exception& e) {
          BRAID_WARN(kColl, "rank %d: device call failed: %s", rank, e.what());
        }
      }
      // Read before done is published: an eager item may be released and reused right after.
      const bool captured = item->captured;
      __atomic_store_n(item->done(), ok ? 1u : 2u, __ATOMIC_RELEASE);
      if (captured) {
        std::lock_guard<std::mutex> lock(sh.mu);
        --sh.inFlight;
        sh.idle.notify_all();
      }
    }
  }

  static void* translate(Item& item, const void* p) {
    auto c = static_cast<const char*>(p);
    for (const Region& r : item.regions) {
      if (c >= r.device && c < r.device + r.bytes)
        return item.staging() + r.offset + (c - r.device);
    }
    return const_cast<void*>(p);
  }

  // Host functions on the stream: they take a lock briefly and never call CUDA. They notify while
  // holding the lock, so a destructor that sees the state they leave cannot free the condition
  // variable under them.
  static void post(void* arg) {
    auto* item = static_cast<Item*>(arg);
    Shared& sh = *item->shared;
    std::lock_guard<std::mutex> lock(sh.mu);
    if (sh.closed) {
      __atomic_store_n(item->done(), 2u, __ATOMIC_RELEASE);
      return;
    }
    __atomic_store_n(item->done(), 0u, __ATOMIC_RELAXED);
    sh.queue.push_back(item);
    if (item->captured) ++sh.inFlight;  // an eager call counts from its enqueue on
    sh.wake.notify_one();
  }

  static void release(void* arg) {
    auto* item = static_cast<Item*>(arg);
    Shared& sh = *item->shared;
    std::lock_guard<std::mutex> lock(sh.mu);
    item->busy.store(false);
    --sh.inFlight;
    sh.idle.notify_all();
  }

  // A graph that held a captured call was destroyed (and its launches are over).
  static void releaseCaptured(void* arg) {
    auto* item = static_cast<Item*>(arg);
    std::lock_guard<std::mutex> lock(item->shared->mu);
    item->busy.store(false);
  }

  // A free item with room for `bytes`, or a new one; returned busy.
  Item* acquire(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(shared->mu);
      Item* best = nullptr;
      for (auto& item : items) {
        if (item->busy.load() || item->capacity < bytes) continue;
        if (best == nullptr || item->capacity < best->capacity) best = item.get();
      }
      if (best != nullptr) {
        best->busy.store(true);
        return best;
      }
    }
    auto item = std::make_unique<Item>();
    item->shared = shared;
    // Powers of two from 64 KiB: few sizes, so few allocations on this path (see the header).
    item->capacity = size_t{64} << 10;
    while (item->capacity < bytes)
      item->capacity *= 2;
    item->block = static_cast<char*>(allocPinned(kAlign + item->capacity));
    item->doneOnDevice = static_cast<uint32_t*>(devicePointerOf(item->block));
    item->busy.store(true);
    Item* raw = item.get();
    std::lock_guard<std::mutex> lock(shared->mu);
    items.push_back(std::move(item));
    return raw;
  }

  void enqueue(void* rawStream, const std::vector<DeviceSpan>& spans, Work work) {
    auto stream = static_cast<cudaStream_t>(rawStream);
    StreamDevice onStreamDevice(stream);
    // Overlapping spans (in place, or an input inside the output) share one staged region.
    std::vector<DeviceSpan> sorted;
    for (const DeviceSpan& s : spans) {
      if (s.bytes > 0) sorted.push_back(s);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const DeviceSpan& a, const DeviceSpan& b) { return a.ptr < b.ptr; });
    std::vector<Region> regions;
    size_t total = 0;
    for (const DeviceSpan& s : sorted) {
      auto start = static_cast<const char*>(s.ptr);
      if (!regions.empty() && start < regions.back().device + regions.back().bytes) {
        Region& r = regions.back();
        r.bytes = std::max(r.bytes, static_cast<size_t>(start + s.bytes - r.device));
        r.in |= s.in;
        r.out |= s.out;
        continue;
      }
      if (!regions.empty()) total = roundUp(regions.back().offset + regions.back().bytes);
      regions.push_back(Region{start, s.bytes, total, s.in, s.out});
    }
    if (!regions.empty()) total = regions.back().offset + regions.back().bytes;

    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    cudaGraph_t graph = nullptr;
    check(cudaStreamGetCaptureInfo(stream, &capture, nullptr, &graph), "cudaStreamGetCaptureInfo");
    const bool captured = capture == cudaStreamCaptureStatusActive;

    Item* item = acquire(total);
    item->regions = std::move(regions);
    item->work = std::move(work);
    item->captured = captured;
    if (!captured) {
      std::lock_guard<std::mutex> lock(shared->mu);
      ++shared->inFlight;  // before the release host function can run
    }
    try {
      putOnStream(item, stream, graph);
    } catch (...) {
      // Some of the call may be on the stream: the item stays busy for good, out of the pool.
      if (!captured) {
        std::lock_guard<std::mutex> lock(shared->mu);
        --shared->inFlight;
      }
      throw;
    }
  }

  void putOnStream(Item* item, cudaStream_t stream, cudaGraph_t graph) {
    for (const Region& r : item->regions) {
      if (!r.in) continue;
      check(cudaMemcpyAsync(item->staging() + r.offset, r.device, r.bytes, cudaMemcpyDeviceToHost,
                            stream),
            "cudaMemcpyAsync (device to staging)");
    }
    check(cudaLaunchHostFunc(stream, &Impl::post, item), "cudaLaunchHostFunc");
    check(static_cast<cudaError_t>(cuda::waitHostWord(item->doneOnDevice, abortOnDevice, stream)),
          "launching the wait kernel");
    for (const Region& r : item->regions) {
      if (!r.out) continue;
      check(cudaMemcpyAsync(const_cast<char*>(r.device), item->staging() + r.offset, r.bytes,
                            cudaMemcpyHostToDevice, stream),
            "cudaMemcpyAsync (staging to device)");
    }
    if (item->captured) {
      // The graph owns the item from now on; destroying the graph gives it back.
      cudaUserObject_t object;
      check(cudaUserObjectCreate(&object, item, &Impl::releaseCaptured, 1,
                                 cudaUserObjectNoDestructorSync),
            "cudaUserObjectCreate");
      check(cudaGraphRetainUserObject(graph, object, 1, cudaGraphUserObjectMove),
            "cudaGraphRetainUserObject");
    } else {
      check(cudaLaunchHostFunc(stream, &Impl::release, item), "cudaLaunchHostFunc");
    }
  }
};

bool DeviceProxy::available() {
  return true;
}

DeviceProxy::DeviceProxy(int rank, int64_t timeoutMs)
    : impl_(std::make_unique<Impl>(rank, timeoutMs)) {}

DeviceProxy::~DeviceProxy() = default;

void DeviceProxy::enqueue(void* stream, const std::vector<DeviceSpan>& spans, Work work) {
  impl_->enqueue(stream, spans, std::move(work));
}

std::unique_lock<std::mutex> DeviceProxy::exclusive() {
  {
    std::unique_lock<std::mutex> lock(impl_->shared->mu);
    if (!impl_->waitIdle(lock)) {
      fail(braidTimeout, "device work of this communicator still in flight after ",
           impl_->timeoutMs, " ms; a host-buffer call waits for it");
    }
  }
  return hold();
}

std::unique_lock<std::mutex> DeviceProxy::hold() {
  return std::unique_lock<std::mutex>(impl_->execMu);
}

void DeviceProxy::abort() {
  __atomic_store_n(impl_->abortWord, 1u, __ATOMIC_RELEASE);
}

}  // namespace braid
