// Stream semantics of device-buffer calls, ranks as threads on the one GPU:
//   gpu_stream_test async     a call returns before its peer has even called; the stream finishes
//                             it, and a host-buffer call after it waits for it
//   gpu_stream_test graph     calls captured in a CUDA graph run only when it is launched, and
//                             give fresh results on every replay
//   gpu_stream_test abort     braidCommAbort ends a kernel waiting for a peer that never calls
//   gpu_stream_test timeout   so does the communicator's timeout, with an asynchronous error
//   gpu_stream_test usage     a group mixing host and device buffers is refused
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gpu_support.h"

namespace {

using Clock = std::chrono::steady_clock;
std::atomic<int> failures{0};

void expect(bool ok, const std::string& what) {
  if (ok) return;
  fprintf(stderr, "FAIL %s\n", what.c_str());
  ++failures;
}

std::vector<braidComm_t> makeComms(int n, int64_t timeoutMs = 0) {
  std::vector<braidComm_t> comms(static_cast<size_t>(n));
  if (timeoutMs == 0) {
    if (braidCommInitAll(comms.data(), n, nullptr) != braidSuccess) {
      fprintf(stderr, "braidCommInitAll: %s\n", braidGetLastError(nullptr));
      std::exit(1);
    }
    return comms;
  }
  braidUniqueId id;
  braidGetUniqueId(&id);
  braidConfig_t config = BRAID_CONFIG_INITIALIZER;
  config.timeoutMs = static_cast<int>(timeoutMs);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      if (braidCommInitRankConfig(&comms[static_cast<size_t>(r)], n, id, r, &config) !=
          braidSuccess) {
        fprintf(stderr, "braidCommInitRankConfig: %s\n", braidGetLastError(nullptr));
        std::exit(1);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  return comms;
}

// Waits for the stream on another thread, for at most `limit`: a hang fails the test.
bool finishesWithin(cudaStream_t s, std::chrono::seconds limit, std::string* error) {
  auto done = std::async(std::launch::async, [s] { return cudaStreamSynchronize(s); });
  if (done.wait_for(limit) != std::future_status::ready) {
    fprintf(stderr, "FAIL the stream did not finish within %lld s\n",
            static_cast<long long>(limit.count()));
    std::fflush(stderr);
    std::_Exit(1);  // the stuck wait cannot be joined
  }
  cudaError_t rc = done.get();
  if (rc != cudaSuccess) *error = cudaGetErrorString(rc);
  return true;
}

std::vector<float> download(const float* d, size_t n, cudaStream_t s) {
  std::vector<float> h(n);
  braid::test::gpuDownload(h.data(), d, n * sizeof(float), s);
  return h;
}

void testAsync() {
  constexpr size_t kCount = 1000003;
  auto comms = makeComms(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      GPU_CHECK(cudaSetDevice(0));
      cudaStream_t s;
      GPU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      std::vector<float> in(kCount);
      for (size_t i = 0; i < kCount; ++i)
        in[i] = static_cast<float>((r + 1) * (i % 1000));
      auto* din = static_cast<float*>(braid::test::gpuAlloc(kCount * sizeof(float), s));
      auto* dout = static_cast<float*>(braid::test::gpuAlloc(kCount * sizeof(float), s));
      braid::test::gpuUpload(din, in.data(), kCount * sizeof(float), s);
      if (r == 1) std::this_thread::sleep_for(std::chrono::milliseconds(500));
      auto start = Clock::now();
      braidResult_t rc = braidAllReduce(din, dout, kCount, braidFloat32, braidSum,
                                        comms[static_cast<size_t>(r)], s);
      auto took = Clock::now() - start;
      expect(rc == braidSuccess,
             "async: braidAllReduce returned " + std::string(braidGetErrorString(rc)));
      if (r == 0) {
        expect(took < std::chrono::milliseconds(200),
               "async: the call waited for its peer instead of returning at once");
        expect(cudaStreamQuery(s) == cudaErrorNotReady,
               "async: the stream was idle before the peer had called");
      }
      // A host-buffer call right after: it must wait for the device call, then run.
      std::vector<int> host(5, r + 1);
      rc = braidAllReduce(host.data(), host.data(), host.size(), braidInt32, braidSum,
                          comms[static_cast<size_t>(r)], nullptr);
      expect(rc == braidSuccess && host[4] == 3, "async: host-buffer call after a device call");
      std::string error;
      finishesWithin(s, std::chrono::seconds(60), &error);
      expect(error.empty(), "async: stream error " + error);
      auto out = download(dout, kCount, s);
      for (size_t i = 0; i < kCount; ++i) {
        if (out[i] != static_cast<float>(3 * (i % 1000))) {
          expect(false, "async: element " + std::to_string(i) + " is " + std::to_string(out[i]));
          break;
        }
      }
      braid::test::gpuFree(din, s);
      braid::test::gpuFree(dout, s);
      GPU_CHECK(cudaStreamDestroy(s));
    });
  }
  for (auto& t : threads)
    t.join();
  for (braidComm_t c : comms)
    braidCommDestroy(c);
}

void testGraph() {
  constexpr int kRanks = 3;
  constexpr size_t kCount = 4099;
  auto comms = makeComms(kRanks);
  std::barrier sync(kRanks);
  std::vector<std::thread> threads;
  for (int r = 0; r < kRanks; ++r) {
    threads.emplace_back([&, r] {
      braidComm_t comm = comms[static_cast<size_t>(r)];
      GPU_CHECK(cudaSetDevice(0));
      cudaStream_t s;
      GPU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      auto* din = static_cast<float*>(braid::test::gpuAlloc(kCount * sizeof(float), s));
      auto* dsum = static_cast<float*>(braid::test::gpuAlloc(kCount * sizeof(float), s));
      auto* dgather =
          static_cast<float*>(braid::test::gpuAlloc(kRanks * kCount * sizeof(float), s));
      GPU_CHECK(cudaMemset(dsum, 0, kCount * sizeof(float)));
      sync.arrive_and_wait();  // no allocation while another thread captures in global mode
      GPU_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
      braidResult_t a = braidAllReduce(din, dsum, kCount, braidFloat32, braidSum, comm, s);
      braidResult_t g = braidAllGather(din, dgather, kCount, braidFloat32, comm, s);
      cudaGraph_t graph;
      GPU_CHECK(cudaStreamEndCapture(s, &graph));
      expect(a == braidSuccess && g == braidSuccess,
             std::string("graph: capture: ") + braidGetLastError(comm));
      cudaGraphExec_t exec;
      GPU_CHECK(cudaGraphInstantiate(&exec, graph, 0));
      sync.arrive_and_wait();
      expect(download(dsum, 1, s)[0] == 0.0f, "graph: capturing ran the collective");
      for (int replay = 0; replay < 3; ++replay) {
        std::vector<float> in(kCount);
        for (size_t i = 0; i < kCount; ++i)
          in[i] = static_cast<float>(1000 * replay + 10 * r + static_cast<int>(i % 7));
        braid::test::gpuUpload(din, in.data(), kCount * sizeof(float), s);
        GPU_CHECK(cudaGraphLaunch(exec, s));
        std::string error;
        finishesWithin(s, std::chrono::seconds(60), &error);
        expect(error.empty(), "graph: stream error " + error);
        auto sum = download(dsum, kCount, s);
        auto gathered = download(dgather, kRanks * kCount, s);
        for (size_t i = 0; i < kCount; ++i) {
          float want = 0;
          for (int q = 0; q < kRanks; ++q)
            want += static_cast<float>(1000 * replay + 10 * q + static_cast<int>(i % 7));
          if (sum[i] != want) {
            expect(false, "graph: replay " + std::to_string(replay) + " sum element " +
                              std::to_string(i) + " is " + std::to_string(sum[i]));
            break;
          }
          float own = static_cast<float>(1000 * replay + 10 * r + static_cast<int>(i % 7));
          if (gathered[static_cast<size_t>(r) * kCount + i] != own) {
            expect(false, "graph: replay " + std::to_string(replay) + " gathered element " +
                              std::to_string(i));
            break;
          }
        }
        sync.arrive_and_wait();
      }
      GPU_CHECK(cudaGraphExecDestroy(exec));
      GPU_CHECK(cudaGraphDestroy(graph));
      braid::test::gpuFree(din, s);
      braid::test::gpuFree(dsum, s);
      braid::test::gpuFree(dgather, s);
      GPU_CHECK(cudaStreamDestroy(s));
    });
  }
  for (auto& t : threads)
    t.join();
  for (braidComm_t c : comms)
    braidCommDestroy(c);
}

// Rank 0 calls, rank 1 never does; `end` must get rank 0's stream moving again.
template <typename End>
void testStuck(const char* name, int64_t timeoutMs, End&& end) {
  auto comms = makeComms(2, timeoutMs);
  GPU_CHECK(cudaSetDevice(0));
  cudaStream_t s;
  GPU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  auto* d = static_cast<float*>(braid::test::gpuAlloc(1024 * sizeof(float), s));
  braidResult_t rc = braidAllReduce(d, d, 1024, braidFloat32, braidSum, comms[0], s);
  expect(rc == braidSuccess,
         std::string(name) + ": enqueue failed: " + braidGetLastError(comms[0]));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  expect(cudaStreamQuery(s) == cudaErrorNotReady, std::string(name) + ": nothing was waiting");
  auto start = Clock::now();
  // braidCommAbort or the timeout must also return: a watchdog fails a hang inside them.
  auto ended = std::async(std::launch::async, [&] { end(comms[0], s); });
  if (ended.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    fprintf(stderr, "FAIL %s: ending the stuck call hung\n", name);
    std::fflush(stderr);
    std::_Exit(1);
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  printf("%s: the stream finished %lld ms after being ended\n", name,
         static_cast<long long>(took.count()));
  braid::test::gpuFree(d, s);
  GPU_CHECK(cudaStreamDestroy(s));
  braidCommDestroy(comms[1]);
}

void testAbort() {
  testStuck("abort", 0, [](braidComm_t comm, cudaStream_t s) {
    expect(braidCommAbort(comm) == braidSuccess, "abort: braidCommAbort failed");
    std::string error;
    finishesWithin(s, std::chrono::seconds(20), &error);
    expect(error.empty(), "abort: stream error " + error);
  });
}

void testTimeout() {
  testStuck("timeout", 1000, [](braidComm_t comm, cudaStream_t s) {
    std::string error;
    finishesWithin(s, std::chrono::seconds(30), &error);
    expect(error.empty(), "timeout: stream error " + error);
    braidResult_t async = braidSuccess;
    braidCommGetAsyncError(comm, &async);
    std::string text = braidGetLastError(comm);
    printf("timeout: async error %s: %s\n", braidGetErrorString(async), text.c_str());
    expect(async != braidSuccess, "timeout: no asynchronous error after the timeout");
    expect(text.find("rank 1") != std::string::npos,
           "timeout: the error does not name rank 1: " + text);
    braidCommDestroy(comm);
  });
}

void testUsage() {
  auto comms = makeComms(1);
  cudaStream_t s = nullptr;  // the legacy stream
  auto* d = static_cast<float*>(braid::test::gpuAlloc(16 * sizeof(float), s));
  std::vector<float> h(16);
  braidGroupStart();
  braidAllReduce(d, d, 16, braidFloat32, braidSum, comms[0], nullptr);
  braidAllReduce(h.data(), h.data(), 16, braidFloat32, braidSum, comms[0], nullptr);
  braidResult_t rc = braidGroupEnd();
  expect(rc == braidInvalidUsage,
         std::string("usage: mixed group returned ") + braidGetErrorString(rc));
  printf("usage: %s\n", braidGetLastError(nullptr));
  GPU_CHECK(cudaDeviceSynchronize());
  braid::test::gpuFree(d, s);
  braidCommDestroy(comms[0]);
}

}  // namespace

int main(int argc, char** argv) {
  const char* which = argc == 2 ? argv[1] : "";
  struct {
    const char* name;
    void (*run)();
  } tests[] = {{"async", testAsync},
               {"graph", testGraph},
               {"abort", testAbort},
               {"timeout", testTimeout},
               {"usage", testUsage}};
  for (auto& t : tests) {
    if (std::strcmp(which, t.name) != 0) continue;
    braid::test::skipWithoutGpu("gpu_stream_test");
    t.run();
    printf("gpu_stream_test %s: %d failures\n", t.name, failures.load());
    return failures == 0 ? 0 : 1;
  }
  fprintf(stderr, "usage: gpu_stream_test async|graph|abort|timeout|usage\n");
  return 2;
}
