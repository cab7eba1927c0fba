// Ping-pong through the Connection interface, for each transport: one thread per end in this
// process, each driving its own Connection the way the communicator's wait loop does (progress()
// until the step is done, spinning). Time is a round trip; "bytes_per_second" counts the bytes
// that crossed (2 x size per round trip); "one_way_us" is half the round trip.
//   bench/micro/connection_micro --benchmark_filter='shm'
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "core/deadline.h"
#include "transport/shm_connection.h"
#include "transport/socket.h"
#include "transport/tcp_connection.h"

namespace {

using braid::Connection;
using braid::Deadline;
using braid::Fd;

constexpr size_t kSlotBytes = 512 << 10;  // BRAID_CHUNK_SIZE's default
constexpr int kSlots = 4;                 // BRAID_NSLOTS's default
constexpr int kTcpStreams = 2;            // BRAID_SOCKET_NSTREAMS's default

// `n` connected loopback TCP socket pairs: {ends of side A, ends of side B}.
std::pair<std::vector<Fd>, std::vector<Fd>> loopbackSockets(int n) {
  sockaddr_in loopback{};
  loopback.sin_family = AF_INET;
  loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // port 0: the kernel picks one
  braid::SockAddr addr = braid::SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&loopback));
  Fd listener = braid::listenOn(&addr);
  const Deadline deadline = Deadline::after(10000);
  std::vector<Fd> a, b;
  for (int i = 0; i < n; ++i) {
    a.push_back(braid::connectTo(addr, deadline, "connection_micro"));
    b.push_back(braid::acceptOne(listener.get(), deadline));
  }
  return {std::move(a), std::move(b)};
}

struct Pair {
  std::unique_ptr<Connection> a, b;
};

Pair makeTcp() {
  auto [a, b] = loopbackSockets(kTcpStreams);
  return {std::make_unique<braid::TcpConnection>(1, std::move(a), kSlotBytes, kSlots),
          std::make_unique<braid::TcpConnection>(0, std::move(b), kSlotBytes, kSlots)};
}

Pair makeShm() {
  auto [a, b] = loopbackSockets(1);
  const Deadline deadline = Deadline::after(10000);
  return {std::make_unique<braid::ShmConnection>(1, std::move(a[0]), kSlotBytes, kSlots, 0, 0, true,
                                                 deadline),
          std::make_unique<braid::ShmConnection>(0, std::move(b[0]), kSlotBytes, kSlots, 0, 0, true,
                                                 deadline)};
}

// As the communicator's spin phase: when nothing moved, give the core to whoever needs it (the
// other end may be waiting for this very core).
void progressOrYield(Connection& c) {
  if (!c.progress()) sched_yield();
}

// Receives one message into buf, then sends it back; false when told to stop first.
bool echoOnce(Connection& c, std::vector<char>& buf, const std::atomic<bool>& stop) {
  c.postRecv(buf.data(), buf.size());
  while (!c.recvReady()) {
    if (stop.load(std::memory_order_relaxed)) return false;
    progressOrYield(c);
  }
  c.recvDone();
  c.postSend(buf.data(), buf.size());
  while (!c.sendsDone())
    progressOrYield(c);
  return true;
}

void roundTrip(Connection& c, std::vector<char>& out, std::vector<char>& in) {
  c.postRecv(in.data(), in.size());
  c.postSend(out.data(), out.size());
  while (!c.recvReady() || !c.sendsDone())
    progressOrYield(c);
  c.recvDone();
}

void pingPong(benchmark::State& state, Pair (*make)()) {
  const size_t bytes = static_cast<size_t>(state.range(0));
  Pair pair = make();
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    std::vector<char> buf(bytes);
    while (echoOnce(*pair.b, buf, stop)) {
    }
  });
  std::vector<char> out(bytes, 7), in(bytes);
  roundTrip(*pair.a, out, in);  // completes the connection's set-up (shm handshake)
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state)
    roundTrip(*pair.a, out, in);
  const std::chrono::duration<double, std::micro> elapsed =
      std::chrono::steady_clock::now() - start;
  stop.store(true);
  echo.join();
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(2 * bytes));
  state.counters["one_way_us"] = elapsed.count() / (2.0 * static_cast<double>(state.iterations()));
}

void sizes(benchmark::internal::Benchmark* b) {
  b->RangeMultiplier(8)->Range(8, 8 << 20)->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK_CAPTURE(pingPong, shm, makeShm)->Apply(sizes);
BENCHMARK_CAPTURE(pingPong, tcp, makeTcp)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
