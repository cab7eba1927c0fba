// Comm: settings, connections, the wait loop, operation headers and failure handling.
#include "core/comm.h"

#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <iterator>
#include <random>
#include <sstream>

#include "core/log.h"
#include "core/params.h"
#include "reduce/reduce.h"
#include "topology/host_identity.h"
#include "topology/ring_order.h"
#include "topology/topology.h"
#include "transport/shm_connection.h"
#include "transport/tcp_connection.h"

namespace braid {

const char* opKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kAllReduce:
      return "braidAllReduce";
    case OpKind::kBroadcast:
      return "braidBroadcast";
    case OpKind::kReduce:
      return "braidReduce";
    case OpKind::kAllGather:
      return "braidAllGather";
    case OpKind::kReduceScatter:
      return "braidReduceScatter";
    case OpKind::kAlltoAll:
      return "braidAlltoAll";
    case OpKind::kBarrier:
      return "braidBarrier";
    case OpKind::kSend:
      return "braidSend";
    case OpKind::kRecv:
      return "braidRecv";
  }
  return "unknown operation";
}

std::string OpHeader::describe() const {
  std::ostringstream s;
  s << opKindName(kind) << " #" << seq;
  if (kind == OpKind::kBarrier) return s.str();
  s << " (count " << count << ", " << dataTypeName(static_cast<braidDataType_t>(type));
  bool reduces =
      kind == OpKind::kAllReduce || kind == OpKind::kReduce || kind == OpKind::kReduceScatter;
  if (reduces) s << ", " << redOpName(static_cast<braidRedOp_t>(op));
  if (kind == OpKind::kBroadcast || kind == OpKind::kReduce) s << ", root " << root;
  if (kind == OpKind::kSend || kind == OpKind::kRecv) s << ", peer " << root;
  s << ")";
  return s.str();
}

CommSettings CommSettings::fromEnvironment(const braidConfig_t* config) {
  CommSettings s;
  s.timeoutMs = paramInt("BRAID_TIMEOUT_MS");
  int64_t chunk = paramInt("BRAID_CHUNK_SIZE");
  int64_t nslots = paramInt("BRAID_NSLOTS");
  int64_t nstreams = paramInt("BRAID_SOCKET_NSTREAMS");
  if (s.timeoutMs < 0) fail(braidInvalidArgument, "BRAID_TIMEOUT_MS must be >= 0");
  if (chunk < 64 || chunk > (int64_t{1} << 30)) {
    fail(braidInvalidArgument, "BRAID_CHUNK_SIZE=", chunk, " must be in 64..1G");
  }
  if (nslots < 2 || nslots > 64) fail(braidInvalidArgument, "BRAID_NSLOTS must be in 2..64");
  if (nstreams < 1 || nstreams > 16) {
    fail(braidInvalidArgument, "BRAID_SOCKET_NSTREAMS must be in 1..16");
  }
  bool singleCopyAuto = paramString("BRAID_SHM_SINGLE_COPY_MIN").empty();
  int64_t singleCopy = singleCopyAuto ? 0 : paramInt("BRAID_SHM_SINGLE_COPY_MIN");
  int64_t singleCopyMax = paramInt("BRAID_SHM_SINGLE_COPY_MAX");
  if (singleCopy < 0) fail(braidInvalidArgument, "BRAID_SHM_SINGLE_COPY_MIN must be >= 0");
  if (singleCopyMax < 0) fail(braidInvalidArgument, "BRAID_SHM_SINGLE_COPY_MAX must be >= 0");
  s.chunkBytes = static_cast<size_t>(chunk);
  s.shmSingleCopyMin =
      singleCopyAuto ? CommSettings::kSingleCopyAuto : static_cast<size_t>(singleCopy);
  s.shmSingleCopyMax = static_cast<size_t>(singleCopyMax);
  s.nslots = static_cast<int>(nslots);
  s.nstreams = static_cast<int>(nstreams);
  s.algo = paramString("BRAID_ALGO");
  std::string transport = paramString("BRAID_TRANSPORT");
  s.shmDisabled = paramInt("BRAID_SHM_DISABLE") != 0;
  s.ibDisabled = paramInt("BRAID_IB_DISABLE") != 0;
  if (config != nullptr) {
    if (config->magic != BRAID_CONFIG_MAGIC || config->size < sizeof(size_t) * 2) {
      fail(braidInvalidArgument,
           "braidConfig_t not initialised with BRAID_CONFIG_INITIALIZER (bad magic or size)");
    }
    if (config->timeoutMs != BRAID_CONFIG_UNDEF_INT) {
      if (config->timeoutMs < 0) fail(braidInvalidArgument, "config timeoutMs must be >= 0");
      s.timeoutMs = config->timeoutMs;
    }
    if (config->blocking != BRAID_CONFIG_UNDEF_INT && config->blocking != 0 &&
        config->blocking != 1) {
      fail(braidInvalidArgument, "config blocking must be 0 or 1");
    }
    if (config->algo != nullptr) s.algo = config->algo;
    if (config->proto != nullptr && *config->proto != '\0' &&
        strcasecmp(config->proto, "simple") != 0) {
      fail(braidInvalidArgument, "config proto '", config->proto, "' is unknown (simple)");
    }
    if (config->transport != nullptr) transport = config->transport;
    if (config->commName != nullptr) s.name = config->commName;
  }
  if (!transport.empty() && transport != "tcp" && transport != "shm" && transport != "ib") {
    fail(braidInvalidArgument, "transport '", transport, "' is unknown (tcp, shm, ib)");
  }
  s.transport = transport;
  return s;
}

std::unique_ptr<Bootstrap> Comm::makeBootstrap(uint64_t magic, const CommSettings& s,
                                               const std::atomic<bool>* abort) {
  return std::make_unique<Bootstrap>(magic, s.timeoutMs, abort);
}

Comm::Comm(CommSettings settings, std::unique_ptr<Bootstrap> bootstrap, int cudaDevice)
    : settings_(std::move(settings)), bootstrap_(std::move(bootstrap)), cudaDevice_(cudaDevice) {
  bootstrap_->setAbortFlag(&aborted_);
  size_t n = static_cast<size_t>(nranks());
  connections_.resize(n);
  sendSeq_.assign(n, 0);
  recvSeq_.assign(n, 0);
  peers_.resize(n);
  PeerInfo& mine = peers_[static_cast<size_t>(rank())];
  mine.host = hostIdentityHash();
  mine.pid = getpid();
  mine.allowsShm =
      !settings_.shmDisabled && settings_.transport != "tcp" && settings_.transport != "ib";
  probeIbPort();
  mine.ibFabric = ib_.fabric;
  mine.forcesIb = settings_.transport == "ib";
  setCpuMask(&mine);
  bootstrap_->allgather(peers_.data(), sizeof(PeerInfo));
  setRingOrder();
  setLinks();
  logProcessTopology();
  // Every rank computes the same figure from the same data, so all of them choose alike.
  std::vector<uint64_t> hosts;
  double shared = 1;  // this host's
  for (const PeerInfo& p : peers_) {
    if (std::find(hosts.begin(), hosts.end(), p.host) != hosts.end()) continue;
    hosts.push_back(p.host);
    double f = ranksPerCoreOn(p.host);
    links_.ranksPerCore = std::max(links_.ranksPerCore, f);
    if (p.host == mine.host) shared = f;
  }
  spin_ = shared <= 1 ? kSpin : std::chrono::microseconds(0);
  BRAID_INFO(kInit, "rank %d: %.3g ranks per core on this host (%s), %.3g on the busiest", rank(),
             shared, spin_.count() > 0 ? "waits spin first" : "waits yield at once",
             links_.ranksPerCore);
}

void Comm::setCpuMask(PeerInfo* info) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  // (A kernel built for more than CPU_SETSIZE CPUs refuses this set: every CPU counts then.)
  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
    long online = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
    for (long cpu = 0; cpu < online && cpu < CPU_SETSIZE; ++cpu)
      CPU_SET(static_cast<int>(cpu), &allowed);
  }
  static_assert(CPU_SETSIZE <= PeerInfo::kCpuMaskBits);
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &allowed)) info->cpuMask[cpu / 64] |= uint64_t{1} << (cpu % 64);
  }
}

double Comm::ranksPerCoreOn(uint64_t host) const {
  constexpr size_t kWords = PeerInfo::kCpuMaskBits / 64;
  auto within = [](const uint64_t* a, const uint64_t* b) {  // a's CPUs are all in b
    for (size_t w = 0; w < kWords; ++w) {
      if ((a[w] & ~b[w]) != 0) return false;
    }
    return true;
  };
  auto count = [](const uint64_t* m) {
    int n = 0;
    for (size_t w = 0; w < kWords; ++w)
      n += std::popcount(m[w]);
    return std::max(1, n);
  };
  // The busiest set of CPUs: for each rank's set, the ranks confined to it, over its size; and
  // all of the host's ranks over the CPUs any of them may use. Three ranks pinned to one CPU
  // share it even when a fourth may run anywhere.
  uint64_t all[kWords] = {};
  int ranks = 0;
  double most = 0;
  for (const PeerInfo& p : peers_) {
    if (p.host != host) continue;
    ++ranks;
    for (size_t w = 0; w < kWords; ++w)
      all[w] |= p.cpuMask[w];
    int inside = 0;
    for (const PeerInfo& q : peers_)
      inside += q.host == host && within(q.cpuMask, p.cpuMask) ? 1 : 0;
    most = std::max(most, static_cast<double>(inside) / count(p.cpuMask));
  }
  return std::max(most, static_cast<double>(ranks) / count(all));
}

void Comm::setRingOrder() {
  std::vector<uint64_t> hosts;
  for (const PeerInfo& p : peers_)
    hosts.push_back(p.host);
  ringOrder_ = hostContiguousRingOrder(hosts);
  ringPosition_.resize(ringOrder_.size());
  for (size_t i = 0; i < ringOrder_.size(); ++i)
    ringPosition_[static_cast<size_t>(ringOrder_[i])] = static_cast<int>(i);
  bool regrouped = !std::is_sorted(ringOrder_.begin(), ringOrder_.end());
  BRAID_INFO(kInit, "ring: rank %d: prev rank %d, next rank %d (%s)", rank(), prev(), next(),
             regrouped ? "ranks regrouped so each host's are contiguous" : "rank order");
}

void Comm::setLinks() {
  std::vector<uint64_t> hosts;
  bool insideSeen = false;
  bool acrossSeen = false;
  for (int peer = 0; peer < nranks(); ++peer) {
    uint64_t host = peers_[static_cast<size_t>(peer)].host;
    if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) hosts.push_back(host);
    bool local = host == peers_[static_cast<size_t>(rank())].host;
    if (peer == rank() || (local ? insideSeen : acrossSeen)) continue;
    std::string transport;
    try {
      transport = chooseTransport(peer).first;
    } catch (const Error&) {
      transport = "tcp";  // a misconfiguration fails when the connection is made, not here
    }
    (local ? links_.inside : links_.across) = transport;
    (local ? insideSeen : acrossSeen) = true;
  }
  links_.hosts = static_cast<int>(hosts.size());
  if (!acrossSeen) links_.across = links_.inside;
}

void Comm::probeIbPort() {
  if (nranks() == 1) {
    ib_.description = "no peers";
  } else if (settings_.ibDisabled) {
    ib_.description = "BRAID_IB_DISABLE=1";
  } else if (settings_.transport == "tcp" || settings_.transport == "shm") {
    ib_.description = "BRAID_TRANSPORT=" + settings_.transport;
  } else {
    ib_ = probeIb();
  }
  BRAID_INFO(kInit, "ib: %s%s", ib_.port ? "" : "unavailable: ", ib_.description.c_str());
}

bool Comm::ibPossible(int peer, std::string* why) const {
  const PeerInfo& them = peers_[static_cast<size_t>(peer)];
  if (!ib_.port) {
    *why = "no verbs port here (" + ib_.description + ")";
  } else if (them.ibFabric == IbFabric::kNone) {
    *why = "rank " + std::to_string(peer) + " has no verbs port, or does not use ib";
  } else if (them.ibFabric != ib_.fabric) {
    *why = std::string("fabrics differ (") + ibFabricName(ib_.fabric) + " here, " +
           ibFabricName(them.ibFabric) + " on rank " + std::to_string(peer) + ")";
  } else {
    return true;
  }
  return false;
}

std::pair<const char*, std::string> Comm::chooseTransport(int peer) const {
  const PeerInfo& me = peers_[static_cast<size_t>(rank())];
  const PeerInfo& them = peers_[static_cast<size_t>(peer)];
  std::string noIb;
  bool ib = ibPossible(peer, &noIb);
  if (me.host != them.host) {
    if (settings_.transport == "shm") {
      fail(braidInvalidUsage, "BRAID_TRANSPORT=shm, but rank ", peer, " is on another host");
    }
    if (ib) return {"ib", "another host"};
    if (settings_.transport == "ib") {
      fail(braidInvalidUsage, "BRAID_TRANSPORT=ib, but ib cannot reach rank ", peer, ": ", noIb);
    }
    return {"tcp", "another host; no ib: " + noIb};
  }
  if (me.allowsShm && them.allowsShm) return {"shm", "same host"};
  if (me.forcesIb || them.forcesIb) {
    if (ib) return {"ib", "same host, BRAID_TRANSPORT=ib"};
    if (settings_.transport == "ib") {
      fail(braidInvalidUsage, "BRAID_TRANSPORT=ib, but ib cannot reach rank ", peer, ": ", noIb);
    }
  }
  if (settings_.transport == "shm") {
    fail(braidInvalidUsage, "BRAID_TRANSPORT=shm, but rank ", peer,
         " disabled shared memory (BRAID_SHM_DISABLE or BRAID_TRANSPORT=tcp there)");
  }
  return {"tcp", me.allowsShm ? "same host, but the peer disabled shared memory"
                              : "same host, shared memory disabled here"};
}

const char* Comm::transportTo(int peer) const {
  return peer == rank() ? "self" : chooseTransport(peer).first;
}

Comm::~Comm() {
  deviceMade_.store(nullptr);
  device_.reset();  // finishes the device work first: it runs on this communicator
  bootstrap_->sayGoodbye();
}

// abort() and deviceProxy() each write their flag before reading the other's (sequentially
// consistent), so a proxy made during an abort is aborted by one side or the other.
void Comm::abort() {
  aborted_.store(true);
  if (DeviceProxy* proxy = deviceMade_.load()) proxy->abort();
}

DeviceProxy& Comm::deviceProxy() {
  std::lock_guard<std::mutex> lock(deviceMu_);
  if (!device_) {
    device_ = std::make_unique<DeviceProxy>(rank(), settings_.timeoutMs);
    deviceMade_.store(device_.get());
    if (aborted_.load()) device_->abort();
  }
  return *device_;
}

DeviceProxy* Comm::deviceProxyIfMade() {
  return deviceMade_.load();
}

Connection& Comm::connection(int peer) {
  auto& slot = connections_[static_cast<size_t>(peer)];
  if (slot) return *slot;
  // Setting up blocks until the peer takes part; what is queued for others (a batched header, a
  // barrier's signal) keeps moving meanwhile, or a peer waiting for it would never come to this
  // set-up: the other connections may still be in their own handshakes, so one pass is not
  // enough. A connection that fails meanwhile is reported as any wait reports it: another rank's
  // notice of the first cause wins over the echo (a peer that failed and exited leaves a
  // half-made connection behind).
  auto keepOthersMoving = [this, peer] { progressNow(peer, "connecting to"); };
  keepOthersMoving();
  Deadline d = deadline();
  auto [transport, reason] = chooseTransport(peer);
  bool shm = std::strcmp(transport, "shm") == 0;
  bool ib = std::strcmp(transport, "ib") == 0;
  int streams = shm || ib ? 1 : settings_.nstreams;
  std::vector<Fd> fds = rank() < peer ? bootstrap_->connectData(peer, streams, d)
                                      : bootstrap_->acceptData(peer, d, keepOthersMoving);
  size_t slotBytes = settings_.chunkBytes;
  if (shm) {
    // Ranks that share cores wait for each other's time slices: a single-copy sender waits until
    // its receiver runs and reads, where a copy into the slots lets it go on (4 ranks on 2 cores,
    // broadcast and allgather: the slots win up to 128 KiB, single copy from 512 KiB).
    size_t singleCopyMin = settings_.shmSingleCopyMin;
    if (singleCopyMin == CommSettings::kSingleCopyAuto) {
      singleCopyMin = spin_.count() > 0 ? kSingleCopyMinOwnCores : kSingleCopyMinSharedCores;
    }
    slot = std::make_unique<ShmConnection>(peer, std::move(fds[0]), slotBytes, settings_.nslots,
                                           singleCopyMin, settings_.shmSingleCopyMax,
                                           spin_.count() > 0, d);
    BRAID_INFO(kNet, "rank %d -> rank %d: shm (%s); single-copy threshold %zu bytes (0: off)",
               rank(), peer, reason.c_str(), singleCopyMin);
  } else if (ib) {
    slot = makeIbConnection(peer, ib_.port, std::move(fds[0]), slotBytes, settings_.nslots, d);
    BRAID_INFO(kNet, "rank %d -> rank %d: ib via %s (%s)", rank(), peer, ib_.description.c_str(),
               reason.c_str());
  } else {
    slot = std::make_unique<TcpConnection>(peer, std::move(fds), slotBytes, settings_.nslots);
    BRAID_INFO(kNet, "rank %d -> rank %d: tcp over %s, %d streams (%s)", rank(), peer,
               bootstrap_->interfaceName().c_str(), streams, reason.c_str());
  }
  open_.push_back(slot.get());
  slot->beginOperation(operationBytes_);
  return *slot;
}

std::unique_lock<std::mutex> Comm::holdDeviceWork() {
  if (DeviceProxy* proxy = deviceProxyIfMade()) return proxy->exclusive();
  return {};
}

void Comm::drainHeaders() {
  if (asyncError_.load() != braidSuccess || aborted_.load()) return;
  int64_t timeout = settings_.timeoutMs;
  if (timeout <= 0 || timeout > kDrainGraceMs) settings_.timeoutMs = kDrainGraceMs;
  try {
    std::unique_lock<std::mutex> exclusive = holdDeviceWork();
    settleHeaders(0);
  } catch (const Error& e) {
    BRAID_WARN(kInit, "rank %d: destroying without waiting further for its neighbours: %s", rank(),
               e.what());
  }
  settings_.timeoutMs = timeout;
}

void Comm::ensureUsable() {
  if (asyncError_.load() != braidSuccess) {
    fail(asyncError_.load(), "the communicator failed earlier and cannot be used: ", failure_);
  }
}

void Comm::beginCollective(OpHeader header, size_t bytes) {
  ensureUsable();
  settleHeaders(kHeaderWindow - 1);
  header.seq = static_cast<uint32_t>(collSeq_++);
  currentHeader_ = header;
  beginOperation(bytes);
  if (nranks() == 1) return;
  Connection& next = connection(this->next());
  Connection& prev = connection(this->prev());
  sentHeader_ = header;
  next.postSendBatched(&sentHeader_, sizeof(OpHeader));
  // After the headers still unchecked, the first receive of this operation from prev.
  PendingHeader& h = headers_[(oldestHeader_ + pendingHeaders_) % kHeaderWindow];
  h.expected = header;
  prev.postRecv(&h.received, sizeof(OpHeader));
  ++pendingHeaders_;
  headerFrom_ = this->prev();
}

std::string Comm::currentCall() const {
  return currentHeader_.kind == OpKind::kSend ? "point-to-point operations"
                                              : currentHeader_.describe();
}

void Comm::beginOperation(size_t bytes) {
  if (bytes == operationBytes_) return;  // a loop of equal calls: the connections know it
  operationBytes_ = bytes;
  for (Connection* c : open_)
    c->beginOperation(bytes);
}

void Comm::beginPointToPoint(size_t largestBytes) {
  ensureUsable();
  settleHeaders(0);  // point-to-point batches check their own headers
  beginOperation(largestBytes);
  currentHeader_ = OpHeader{};
  currentHeader_.kind = OpKind::kSend;
}

void Comm::settleHeaders(size_t keep) {
  if (pendingHeaders_ <= keep) return;
  wait([this, keep] { return pendingHeaders_ <= keep; }, headerFrom_, "waiting for the header from",
       HeaderCheck::kMayDefer);
}

bool Comm::checkHeaders() {
  while (pendingHeaders_ > 0) {
    Connection& conn = *connections_[static_cast<size_t>(headerFrom_)];
    if (!conn.recvReady()) return false;
    conn.recvDone();
    const PendingHeader& h = headers_[oldestHeader_];
    oldestHeader_ = (oldestHeader_ + 1) % kHeaderWindow;
    --pendingHeaders_;
    checkMatch(headerFrom_, h.expected, h.received);
  }
  headerFrom_ = -1;
  return true;
}

void Comm::checkMatch(int peer, const OpHeader& mine, const OpHeader& theirs) const {
  bool match;
  if (mine.kind == OpKind::kRecv) {
    match = theirs.kind == OpKind::kSend && theirs.seq == mine.seq && theirs.count == mine.count &&
            theirs.type == mine.type && theirs.root == rank();
  } else {
    match = theirs.kind == mine.kind && theirs.seq == mine.seq && theirs.count == mine.count &&
            theirs.type == mine.type && theirs.op == mine.op && theirs.root == mine.root;
  }
  if (!match) {
    fail(braidInvalidUsage, "mismatched calls: rank ", rank(), " called ", mine.describe(),
         " but rank ", peer, " called ", theirs.describe());
  }
}

void Comm::onProgressError(const Error& e, const Deadline& d, int peer, const char* what) {
  if (d.aborted()) d.check(std::string(what) + " rank " + std::to_string(peer));
  if (dynamic_cast<const PeerFailure*>(&e) != nullptr) return;
  // A closed connection is often the echo of a failure another rank already reported.
  bootstrap_->awaitAbortNotice(kNoticeGraceMs);
}

void Comm::onTimeout(const Deadline& d, int peer, const char* what) {
  if (d.aborted()) d.check(std::string(what) + " rank " + std::to_string(peer));
  // This rank may only be waiting on one that waits on the culprit: give a rank that knows more
  // a moment to say so.
  bootstrap_->awaitAbortNotice(static_cast<int>(std::min<int64_t>(1000, d.limitMs() / 4 + 1)));
  if (pendingHeaders_ > 0) {
    fail(braidTimeout, "rank ", headerFrom_, " has not started ",
         headers_[oldestHeader_].expected.describe(), " (no word from it for ", d.limitMs(),
         " ms, BRAID_TIMEOUT_MS)");
  }
  d.check(std::string(what) + " rank " + std::to_string(peer) + " (no byte moved)");
  fail(braidInternalError, "onTimeout without a timeout");
}

bool Comm::progressAll() {
  bool moved = false;
  for (Connection* c : open_)
    moved |= c->progress();
  return moved;
}

void Comm::progressNow(int peer, const char* what) {
  try {
    progressAll();
  } catch (const Error& e) {
    onProgressError(e, deadline(), peer, what);
    throw;
  }
}

void Comm::sleepInPoll(const Deadline& d) {
  pollSet_.clear();
  bootstrap_->addControlFds(&pollSet_);
  size_t control = pollSet_.size();
  // Every connection is asked, so those that want one more poll first all get it in the same one.
  bool sleep = true;
  for (Connection* c : open_)
    sleep = c->prepareToSleep(&pollSet_) && sleep;
  if (!sleep) return;
  int rc = poll(pollSet_.data(), pollSet_.size(), d.pollTimeoutMs());
  if (rc <= 0) return;
  for (size_t i = 0; i < control; ++i) {
    if (pollSet_[i].revents != 0) {
      bootstrap_->handleControl();
      return;
    }
  }
}

void Comm::waitAllDone() {
  for (Connection* c : open_) {
    // Receives straight into caller memory need no consuming: release each once it has landed.
    // The headers, posted first, are consumed only by checkHeaders().
    auto done = [this, c] {
      if (c->peer() == headerFrom_ && !checkHeaders()) {
        return c->sendsDone() && c->recvsPending() == pendingHeaders_;  // nothing but headers
      }
      while (c->recvReady())
        c->recvDone();
      return c->sendsDone() && c->recvsDone();
    };
    wait(done, c->peer(), "waiting for transfers with", HeaderCheck::kMayDefer);
  }
  for (Connection* c : open_)
    c->operationDone();
}

void Comm::markFailed(const Error& e) {
  braidResult_t expected = braidSuccess;
  if (!asyncError_.compare_exchange_strong(expected, e.code())) return;
  failure_ = e.what();
  BRAID_WARN(kColl, "%s", failure_.c_str());
  if (dynamic_cast<const PeerFailure*>(&e) == nullptr) {
    bootstrap_->broadcastAbort(e.code(), failure_);
  }
  for (Connection* c : open_)
    c->shutdown();
}

void Comm::setLastError(const std::string& text) {
  std::lock_guard<std::mutex> lock(lastErrorMu_);
  lastError_ = text;
}

const char* Comm::lastError() {
  std::lock_guard<std::mutex> lock(lastErrorMu_);
  return lastError_.c_str();
}

std::unique_ptr<Comm> Comm::split(int color, int key, const braidConfig_t* config) {
  ensureUsable();
  CommSettings childSettings =
      config != nullptr ? CommSettings::fromEnvironment(config) : settings_;
  struct Entry {
    int32_t color;
    int32_t key;
    SockAddr listen;
  };
  uint64_t childMagic = bootstrap_->commMagic() * 6364136223846793005ull + (++splitSeq_ << 32) +
                        static_cast<uint32_t>(color);
  std::unique_ptr<Bootstrap> child;
  std::vector<Entry> all(static_cast<size_t>(nranks()));
  Entry& mine = all[static_cast<size_t>(rank())];
  mine.color = color;
  mine.key = key;
  if (color != BRAID_SPLIT_NOCOLOR) {
    child = makeBootstrap(childMagic, childSettings, &aborted_);
    mine.listen = child->listenAddr();
  }
  bootstrap_->allgather(all.data(), sizeof(Entry));
  if (color == BRAID_SPLIT_NOCOLOR) return nullptr;
  std::vector<int> members;
  for (int r = 0; r < nranks(); ++r) {
    if (all[static_cast<size_t>(r)].color == color) members.push_back(r);
  }
  std::stable_sort(members.begin(), members.end(), [&](int a, int b) {
    return all[static_cast<size_t>(a)].key < all[static_cast<size_t>(b)].key;
  });
  std::vector<SockAddr> table;
  int newRank = -1;
  for (int r : members) {
    if (r == rank()) newRank = static_cast<int>(table.size());
    table.push_back(all[static_cast<size_t>(r)].listen);
  }
  child->joinWithTable(std::move(table), newRank);
  BRAID_INFO(kInit, "split: color %d key %d -> rank %d of %zu", color, key, newRank,
             members.size());
  auto made = std::make_unique<Comm>(std::move(childSettings), std::move(child), cudaDevice_);
  // The parent's other ranks still run on these CPUs (in sibling communicators, say): the child
  // is at least as crowded as its parent. Every member agrees on the parent's figure.
  made->links_.ranksPerCore = std::max(made->links_.ranksPerCore, links_.ranksPerCore);
  if (spin_.count() == 0) made->spin_ = spin_;
  return made;
}

}  // namespace braid
