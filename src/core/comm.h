// The communicator: one rank's membership of a group. It owns the bootstrap, the data connections
// (opened on first use, one per peer), the settings, and the wait loop every algorithm blocks in.
//
// Waiting: wait(ready, ...) drives progress on every open connection until `ready` holds. It
// busy-polls for 20 us where this host has a core per rank (latency), then polls with
// sched_yield between polls for 50 us, then sleeps in poll() on the connections' and the control
// ring's descriptors (so oversubscribed ranks do not starve each other). Any wait ends with an
// error when no byte has moved for the timeout, when a peer fails or vanishes, or on
// braidCommAbort.
//
// Call order: each operation first sends a header (sequence, kind, type, count, op, root) to the
// next rank and checks the one from the previous rank. Any disagreement between ranks shows up
// between some pair of neighbours and fails every rank with braidInvalidUsage naming both calls.
#pragma once

#include <sched.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "collectives/braid.h"
#include "core/error.h"
#include "cuda/device_proxy.h"
#include "transport/connection.h"
#include "transport/ib/ib_transport.h"

namespace braid {

struct Algorithm;

enum class OpKind : int8_t {
  kAllReduce = 1,
  kBroadcast,
  kReduce,
  kAllGather,
  kReduceScatter,
  kAlltoAll,
  kBarrier,
  kSend,
  kRecv,
};

const char* opKindName(OpKind kind);

// What every rank must agree on for one operation; it travels as the operation's first message.
// Kept to 24 bytes: small messages travel with an 8-byte stamp (ShmConnection's ring), so a
// header takes 32 and a call with a payload of up to 8 bytes 48, less than a cache line.
struct OpHeader {
  uint64_t count = 0;
  uint32_t seq = 0;  // the operation's number, modulo 2^32: enough to tell neighbouring calls apart
  int32_t root = -1;  // collectives with a root; the peer for send/recv
  OpKind kind = OpKind::kBarrier;
  int8_t type = -1;
  int8_t op = -1;
  int8_t pad[5] = {};
  std::string describe() const;  // "braidAllReduce #7 (count 100, float32, sum)"
};
static_assert(sizeof(OpHeader) == 24);

struct CommSettings {
  int64_t timeoutMs = 0;
  std::string transport;  // "", "tcp", "shm" or "ib"
  bool shmDisabled = false;
  bool ibDisabled = false;
  size_t chunkBytes = 0;
  // Operations of shmSingleCopyMin..shmSingleCopyMax bytes may go single-copy over shm; min 0:
  // never, kSingleCopyAuto: chosen by whether ranks share cores; max 0: no limit.
  static constexpr size_t kSingleCopyAuto = SIZE_MAX;
  size_t shmSingleCopyMin = 0;
  size_t shmSingleCopyMax = 0;
  int nslots = 0;
  int nstreams = 0;
  std::string algo;
  std::string name;
  // Reads the environment, then applies the caller's config on top. Bad values throw
  // braidInvalidArgument.
  static CommSettings fromEnvironment(const braidConfig_t* config);
};

class Comm {
 public:
  Comm(CommSettings settings, std::unique_ptr<Bootstrap> bootstrap, int cudaDevice);
  ~Comm();
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

  int rank() const { return bootstrap_->rank(); }
  int nranks() const { return bootstrap_->nranks(); }
  int cudaDevice() const { return cudaDevice_; }
  const CommSettings& settings() const { return settings_; }
  Bootstrap& bootstrap() { return *bootstrap_; }
  // What the cost model sees of this communicator: how many hosts, and the transport between
  // ranks of one host and between hosts (inside where there is one host).
  struct Links {
    int hosts = 1;
    std::string inside = "shm";
    std::string across = "shm";
    // The most ranks per CPU on any host (its ranks over the CPUs they may run on together), at
    // least 1: every rank computes the same, as the cost model's inputs must be (ranks that
    // chose different algorithms would wait for each other).
    double ranksPerCore = 1;
  };
  const Links& links() const { return links_; }
  // The default algorithm choice for recent (collective, size) pairs, so the cost model runs
  // once per pair (registry.cc); nullptr when not remembered.
  const Algorithm* rememberedChoice(OpKind kind, size_t bytes) const {
    for (const Choice& c : choices_) {
      if (c.algorithm != nullptr && c.kind == kind && c.bytes == bytes) return c.algorithm;
    }
    return nullptr;
  }
  void rememberChoice(OpKind kind, size_t bytes, const Algorithm* algorithm) {
    choices_[nextChoice_++ % choices_.size()] = Choice{kind, bytes, algorithm};
  }
  // The host identity `rank` reported at init (equal for ranks that share a host).
  uint64_t hostOf(int rank) const { return peers_[static_cast<size_t>(rank)].host; }
  // Ring neighbours follow the ring order (each host's ranks contiguous, see ring_order.h), which
  // is rank order unless the launcher interleaved hosts.
  int next() const { return ringRank(ringPosition(rank()) + 1); }
  int prev() const { return ringRank(ringPosition(rank()) + nranks() - 1); }
  // Where `rank` stands in the ring, and who stands at `position` (taken modulo nranks()).
  int ringPosition(int rank) const { return ringPosition_[static_cast<size_t>(rank)]; }
  int ringRank(int position) const { return ringOrder_[static_cast<size_t>(position % nranks())]; }

  // The connection to `peer`, opened on first use (the lower rank connects).
  Connection& connection(int peer);
  // The transport this rank uses for `peer` ("shm", "tcp"; "self" for itself), opened or not.
  const char* transportTo(int peer) const;
  // The algorithm the last collective ran (a static name; "" before the first).
  // Relaxed: only a name for reports, it orders nothing.
  const char* lastAlgorithm() const { return lastAlgorithm_.load(std::memory_order_relaxed); }
  void setLastAlgorithm(const char* name) { lastAlgorithm_.store(name, std::memory_order_relaxed); }

  // Starts an operation of `bytes` (its size as the benchmarks report it: the gathered or
  // scattered buffer for allgather, reduce-scatter and alltoall): fails fast if the communicator
  // already failed, numbers the operation, and exchanges its header around the ring.
  void beginCollective(OpHeader header, size_t bytes);
  // Starts a batch of point-to-point operations (a group, or one send/recv) whose largest
  // message is largestBytes.
  void beginPointToPoint(size_t largestBytes);
  // Fails with braidInvalidUsage, naming both calls, unless `theirs` (from peer) matches `mine`.
  void checkMatch(int peer, const OpHeader& mine, const OpHeader& theirs) const;
  uint64_t nextSendSeq(int peer) { return sendSeq_[static_cast<size_t>(peer)]++; }
  uint64_t nextRecvSeq(int peer) { return recvSeq_[static_cast<size_t>(peer)]++; }
  // "braidAllReduce #7 (count 100, float32, sum)": made only when asked (errors, traces), since
  // formatting it costs more than a small collective.
  std::string currentCall() const;

  // Blocks until ready() holds and the operation's header has been checked, making progress on
  // every connection. `peer` and `what` name the wait in a timeout's message: what="waiting for
  // data from", peer=3. With kMayDefer the header need not have arrived (waitAllDone).
  enum class HeaderCheck { kRequired, kMayDefer };
  template <typename Ready>
  void wait(Ready&& ready, int peer, const char* what, HeaderCheck header = HeaderCheck::kRequired);
  // One pass of progress on every open connection, without waiting: a root about to copy its
  // own data lets the transfers it queued start first, so its peers work while it copies.
  void progressNow(int peer, const char* what);
  // Waits until every open connection has sent and received all it was given, releasing the
  // receives that landed in caller memory. The one exception is the headers from the previous
  // rank, when nothing else is left to receive from it: a rank that sends but receives nothing
  // (a broadcast root, a reduce's leaf) returns once its data is out, as MPI's eager sends do. It
  // checks those headers as they arrive, during its next operations, and waits for the oldest
  // once kHeaderWindow are unchecked; any operation that receives from the previous rank, and
  // every point-to-point batch, checks them all first.
  void waitAllDone();
  // How many operations such a rank may run ahead of its checks. Ranks that share cores need a
  // wide window: a root held to 4 calls ahead waited for a descheduled rank's header every 4
  // calls (4 ranks on 2 cores, 8 B broadcast: 1.29-1.76 us a call with 4, 0.49-0.76 with 256).
  static constexpr size_t kHeaderWindow = 256;

  // Records a failure of an operation in progress: the communicator is unusable from now on, the
  // other ranks are told (unless they told us) and the data connections are shut down.
  void markFailed(const Error& e);
  braidResult_t asyncError() const { return asyncError_.load(); }
  // Ends every wait of this communicator, its device work's included.
  void abort();
  // Before a destroy closes the connections: takes the headers the previous rank still owes for
  // calls this rank has finished (an eager rank's last few, see settleHeaders), after any device
  // work still on its streams. Closed with them unread, a tcp connection is reset instead of
  // ended, and the peer's send of them fails in a call that should succeed. Best effort: it
  // waits at most kDrainGraceMs (or the timeout, if shorter) with nothing arriving, plus up to
  // 1 s for a failure notice as every timeout does (about 5 s in all), is skipped
  // once the communicator failed or was aborted, and a failure is logged, not thrown: the
  // destroy goes on regardless.
  void drainHeaders();
  static constexpr int64_t kDrainGraceMs = 4000;

  // The proxy that runs this communicator's calls on device buffers, made on first use; null
  // from deviceProxyIfMade() until then.
  DeviceProxy& deviceProxy();
  DeviceProxy* deviceProxyIfMade();
  // Waits for the device work in flight (DeviceProxy::exclusive) and holds the proxy off while
  // the lock is held; an empty lock when there is no proxy.
  std::unique_lock<std::mutex> holdDeviceWork();

  void setLastError(const std::string& text);
  const char* lastError();

  // A buffer of at least `bytes` for an algorithm's temporary data, reused across calls (its
  // contents are not kept).
  char* scratch(size_t bytes) {
    if (scratch_.size() < bytes) scratch_.resize(bytes);
    return scratch_.data();
  }

  // braidCommSplit: collective over this communicator.
  std::unique_ptr<Comm> split(int color, int key, const braidConfig_t* config);

  // What every rank told the others at init; both ends of a connection choose its transport
  // from these, so they always agree.
  struct PeerInfo {
    uint64_t host;  // hostIdentityHash()
    int32_t pid;
    int32_t allowsShm;  // neither BRAID_SHM_DISABLE nor BRAID_TRANSPORT=tcp or ib
    IbFabric ibFabric;  // the fabric of its verbs port; kNone: no port, or ib not wanted
    int32_t forcesIb;   // BRAID_TRANSPORT=ib: ib even to peers on its own host
    // The CPUs it may run on (sched_getaffinity, which covers CPU_SETSIZE = 1024 CPUs): ranks
    // pinned together count as sharing cores (ranksPerCoreOn).
    static constexpr int kCpuMaskBits = 1024;
    uint64_t cpuMask[kCpuMaskBits / 64];
  };

  // Builds a bootstrap for a communicator with these settings (shared by init and split).
  static std::unique_ptr<Bootstrap> makeBootstrap(uint64_t magic, const CommSettings& s,
                                                  const std::atomic<bool>* abort);

 private:
  // Orders the ring from the allgathered host identities.
  void setRingOrder();
  static void setCpuMask(PeerInfo* info);
  // A host's ranks per CPU where they are most crowded (see the definition).
  double ranksPerCoreOn(uint64_t host) const;
  void setLinks();
  // The transport for peer and why, e.g. {"shm", "same host"}.
  std::pair<const char*, std::string> chooseTransport(int peer) const;
  // Whether ib can carry traffic to peer; if not, *why says so.
  bool ibPossible(int peer, std::string* why) const;
  // Opens this rank's verbs port unless ib is disabled or another transport is forced.
  void probeIbPort();
  bool progressAll();
  void sleepInPoll(const Deadline& d);
  // Consumes and checks the previous rank's headers that have arrived; true once none is left.
  bool checkHeaders();
  // A connection failed while waiting: report an abort or a peer's notice rather than the echo.
  void onProgressError(const Error& e, const Deadline& d, int peer, const char* what);
  // The wait ran out (or was aborted): name the rank at fault as well as this rank knows it.
  [[noreturn]] void onTimeout(const Deadline& d, int peer, const char* what);
  Deadline deadline() const { return Deadline::after(settings_.timeoutMs, &aborted_); }
  void beginOperation(size_t bytes);
  void ensureUsable();

  CommSettings settings_;
  std::unique_ptr<Bootstrap> bootstrap_;
  int cudaDevice_;
  std::vector<PeerInfo> peers_;
  Links links_;
  struct Choice {
    OpKind kind;
    size_t bytes;
    const Algorithm* algorithm;
  };
  std::array<Choice, 8> choices_{};
  size_t nextChoice_ = 0;
  std::vector<int> ringOrder_;     // ranks in ring order
  std::vector<int> ringPosition_;  // by rank: its index in ringOrder_
  IbProbe ib_;
  std::vector<std::unique_ptr<Connection>> connections_;  // by peer rank
  std::vector<Connection*> open_;                         // the non-null ones
  // Waits until at most `keep` headers of earlier operations are left unchecked (see
  // waitAllDone), checking each as it arrives.
  void settleHeaders(size_t keep);
  // The collective's header exchange: sent to the next rank (the send points into sentHeader_
  // until the collective ends), expected from headerFrom_ (-1: none pending). Headers received
  // land in a ring of kHeaderWindow entries, the oldest unchecked at headers_[oldestHeader_]: a
  // rank that receives nothing else from the previous rank may run that many operations ahead
  // of its checks, as an eager sender runs ahead of its receiver.
  struct PendingHeader {
    OpHeader expected;
    OpHeader received;
  };
  OpHeader sentHeader_;
  std::array<PendingHeader, kHeaderWindow> headers_;
  size_t oldestHeader_ = 0;
  size_t pendingHeaders_ = 0;
  int headerFrom_ = -1;
  // How long wait() polls without giving the core away before it starts yielding: kSpin, or 0
  // where this host has more ranks than CPUs (a spinning rank would hold the core its peer needs).
  // The clock is read once every kPollsPerClockRead polls.
  static constexpr std::chrono::microseconds kSpin{20};
  static constexpr uint32_t kPollsPerClockRead = 64;
  std::chrono::microseconds spin_{0};
  // BRAID_SHM_SINGLE_COPY_MIN unset: where ranks have cores of their own, and where they share.
  static constexpr size_t kSingleCopyMinOwnCores = 16 << 10;
  static constexpr size_t kSingleCopyMinSharedCores = 256 << 10;
  static constexpr int kNoticeGraceMs = 300;
  uint64_t collSeq_ = 0;
  uint64_t splitSeq_ = 0;
  std::vector<uint64_t> sendSeq_;
  std::vector<uint64_t> recvSeq_;
  OpHeader currentHeader_;     // the collective in progress; kind kSend: point-to-point
  size_t operationBytes_ = 0;  // what its connections were told (Connection::beginOperation)
  std::atomic<bool> aborted_{false};
  std::atomic<const char*> lastAlgorithm_{""};
  std::atomic<braidResult_t> asyncError_{braidSuccess};
  std::string failure_;
  std::mutex lastErrorMu_;
  std::string lastError_;
  std::vector<pollfd> pollSet_;
  std::vector<char> scratch_;
  std::mutex deviceMu_;  // serialises making device_
  std::unique_ptr<DeviceProxy> device_;
  // device_.get(), readable without the lock: every host-buffer call asks for it.
  std::atomic<DeviceProxy*> deviceMade_{nullptr};
};

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

template <typename Ready>
void Comm::wait(Ready&& ready, int peer, const char* what, HeaderCheck header) {
  auto done = [&] { return (checkHeaders() || header == HeaderCheck::kMayDefer) && ready(); };
  if (done()) return;
  // Busy-poll first (a peer on another core answers within a microsecond), then give the core
  // away between polls for a while (oversubscribed ranks need it), then sleep in poll(). A reply
  // within the first polls costs no clock read; the timeout counts from the first sleep.
  enum class Phase { kSpin, kYield, kSleep } phase = Phase::kSpin;
  Deadline::Clock::time_point spinUntil{};
  Deadline::Clock::time_point yieldUntil{};
  Deadline d;
  for (uint32_t idle = 0;;) {
    bool moved;
    try {
      moved = progressAll();
    } catch (const Error& e) {
      onProgressError(e, deadline(), peer, what);
      throw;
    }
    if (done()) return;
    if (moved) {
      idle = 0;
      phase = Phase::kSpin;
      continue;
    }
    if (phase == Phase::kSpin && spin_.count() > 0) {
      if (++idle % kPollsPerClockRead != 0) {
        cpuRelax();
        continue;
      }
      auto now = Deadline::Clock::now();
      if (idle == kPollsPerClockRead) spinUntil = now + spin_;
      if (now < spinUntil) continue;
    }
    if (phase == Phase::kSpin) {
      phase = Phase::kYield;
      yieldUntil = Deadline::Clock::now() + std::chrono::microseconds(50);
    }
    if (phase == Phase::kYield) {
      if (Deadline::Clock::now() < yieldUntil) {
        sched_yield();
        continue;
      }
      phase = Phase::kSleep;
      d = deadline();
    }
    sleepInPoll(d);
    if (d.expired() || d.aborted()) onTimeout(d, peer, what);
  }
}

}  // namespace braid
