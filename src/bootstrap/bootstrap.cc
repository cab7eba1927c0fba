// Bootstrap: rendezvous, control ring, data-connection set-up and abort propagation.
#include "bootstrap/bootstrap.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include "bootstrap/root.h"
#include "core/error.h"
#include "core/log.h"

namespace braid {

namespace {

std::string rankName(int r) {
  return "rank " + std::to_string(r);
}

}  // namespace

Bootstrap::Bootstrap(uint64_t commMagic, int64_t timeoutMs, const std::atomic<bool>* abort)
    : commMagic_(commMagic), timeoutMs_(timeoutMs), abort_(abort) {
  listenAddr_ = chooseLocalAddress(&ifname_);
  listenAddr_.port = 0;
  listener_ = listenOn(&listenAddr_);
}

Bootstrap::~Bootstrap() = default;

void Bootstrap::joinThroughRoot(const SockAddr& root, int rank, int nranks) {
  rank_ = rank;
  nranks_ = nranks;
  // The root waits timeoutMs for everyone, then names the missing ranks: wait a little longer for
  // that answer than the root does, so it is the message users see.
  Deadline d = timeoutMs_ > 0
                   ? Deadline::after(timeoutMs_ + std::max<int64_t>(1000, timeoutMs_ / 4), abort_)
                   : deadline();
  std::string what = "rendezvous with the root at " + root.str();
  Fd fd = connectTo(root, d, what);
  RootHello hello{commMagic_, rank_, nranks_, listenAddr_};
  sendFrame(fd.get(), MsgType::kRootHello, &hello, sizeof(hello), d, what);
  std::vector<char> payload;
  MsgType t;
  try {
    t = recvFrame(fd.get(), &payload, d, what + " (waiting for all ranks)");
  } catch (const Error& e) {
    if (e.code() == braidTimeout) {
      fail(braidTimeout, e.what(), "; the root had not heard from every rank");
    }
    throw;
  }
  if (t == MsgType::kRootError) {
    fail(braidRemoteError, what, ": ", std::string(payload.begin(), payload.end()));
  }
  if (t != MsgType::kRootTable ||
      payload.size() != static_cast<size_t>(nranks_) * sizeof(SockAddr)) {
    fail(braidRemoteError, what, ": malformed table (", payload.size(), " bytes)");
  }
  std::vector<SockAddr> table(static_cast<size_t>(nranks_));
  std::memcpy(table.data(), payload.data(), payload.size());
  joinWithTable(std::move(table), rank);
}

void Bootstrap::joinWithTable(std::vector<SockAddr> table, int rank) {
  rank_ = rank;
  nranks_ = static_cast<int>(table.size());
  table_ = std::move(table);
  if (nranks_ > 1) openRing();
}

void Bootstrap::openRing() {
  Deadline d = deadline();
  int next = (rank_ + 1) % nranks_;
  int prev = (rank_ + nranks_ - 1) % nranks_;
  std::string what = "control ring: connecting to " + rankName(next) + " at " +
                     table_[static_cast<size_t>(next)].str();
  next_.rank = next;
  next_.fd = connectTo(table_[static_cast<size_t>(next)], d, what);
  ConnectHello hello{commMagic_, rank_, 0, 1, 0};
  sendFrame(next_.fd.get(), MsgType::kRingHello, &hello, sizeof(hello), d, what);
  ConnectHello got{};
  prev_.rank = prev;
  prev_.fd = acceptMatching(MsgType::kRingHello, prev, 0, &got, d);
  BRAID_INFO(kBoot, "control ring up: prev %d, next %d, listening on %s (%s)", prev, next,
             listenAddr_.str().c_str(), ifname_.c_str());
}

bool Bootstrap::listenerOrControlReady(const Deadline& d, int maxMs) {
  std::vector<pollfd> fds{pollfd{listener_.get(), POLLIN, 0}};
  addControlFds(&fds);
  int ms = std::min(d.pollTimeoutMs(), maxMs);
  if (poll(fds.data(), static_cast<nfds_t>(fds.size()), ms) <= 0) return false;
  for (size_t i = 1; i < fds.size(); ++i) {
    if (fds[i].revents != 0) handleControl();  // throws a neighbour's abort notice or departure
  }
  return fds[0].revents != 0;
}

Fd Bootstrap::acceptMatching(MsgType type, int peer, int stream, ConnectHello* hello,
                             const Deadline& d, const std::function<void()>& whileWaiting) {
  auto key = std::make_tuple(static_cast<int>(type), peer, stream);
  std::string what = "waiting for " + rankName(peer) + " to connect";
  for (;;) {
    auto it = stash_.find(key);
    if (it != stash_.end()) {
      Fd fd = std::move(it->second.first);
      *hello = it->second.second;
      stash_.erase(it);
      return fd;
    }
    d.check(what);
    if (whileWaiting) whileWaiting();
    int maxMs = whileWaiting ? 1 : std::numeric_limits<int>::max();
    if (type == MsgType::kDataHello && !listenerOrControlReady(d, maxMs)) continue;
    Fd fd = acceptOne(listener_.get(), d);
    if (!fd.valid()) continue;
    std::vector<char> payload;
    MsgType t;
    try {
      t = recvFrame(fd.get(), &payload, Deadline::after(5000, abort_), "connection hello");
    } catch (const Error& e) {
      BRAID_WARN(kBoot, "refused a connection: %s", e.what());
      continue;
    }
    ConnectHello h{};
    if ((t != MsgType::kRingHello && t != MsgType::kDataHello) || payload.size() != sizeof(h)) {
      BRAID_WARN(kBoot, "refused a connection: unexpected message type %d", static_cast<int>(t));
      continue;
    }
    std::memcpy(&h, payload.data(), sizeof(h));
    if (h.commMagic != commMagic_) {
      BRAID_WARN(kBoot, "refused a connection claiming rank %d: wrong communicator magic",
                 h.fromRank);
      continue;
    }
    if (h.fromRank < 0 || h.fromRank >= nranks_ || h.stream < 0 || h.nstreams < 1 ||
        h.nstreams > 64 || h.stream >= h.nstreams) {
      BRAID_WARN(kBoot, "refused a connection: bad hello (rank %d stream %d/%d)", h.fromRank,
                 h.stream, h.nstreams);
      continue;
    }
    stash_[std::make_tuple(static_cast<int>(t), h.fromRank, h.stream)] = {std::move(fd), h};
  }
}

std::vector<Fd> Bootstrap::connectData(int peer, int nstreams, const Deadline& d) {
  std::vector<Fd> fds;
  std::string what = "data connection to " + rankName(peer);
  for (int s = 0; s < nstreams; ++s) {
    Fd fd = connectTo(table_.at(static_cast<size_t>(peer)), d, what);
    ConnectHello hello{commMagic_, rank_, s, nstreams, 0};
    sendFrame(fd.get(), MsgType::kDataHello, &hello, sizeof(hello), d, what);
    fds.push_back(std::move(fd));
  }
  return fds;
}

std::vector<Fd> Bootstrap::acceptData(int peer, const Deadline& d,
                                      const std::function<void()>& whileWaiting) {
  ConnectHello hello{};
  std::vector<Fd> fds;
  fds.push_back(acceptMatching(MsgType::kDataHello, peer, 0, &hello, d, whileWaiting));
  int nstreams = hello.nstreams;
  for (int s = 1; s < nstreams; ++s) {
    fds.push_back(acceptMatching(MsgType::kDataHello, peer, s, &hello, d, whileWaiting));
  }
  return fds;
}

void Bootstrap::allgather(void* data, size_t bytesPerRank) {
  if (nranks_ == 1) return;
  char* base = static_cast<char*>(data);
  Deadline d = deadline();
  // Step s: pass on the block of rank (rank - s) and receive the block of rank (rank - s - 1).
  for (int s = 0; s < nranks_ - 1; ++s) {
    int sendBlock = (rank_ - s + nranks_) % nranks_;
    int recvBlock = (rank_ - s - 1 + nranks_) % nranks_;
    if (next_.gone) fail(braidRemoteError, rankName(next_.rank), " has left the communicator");
    sendFrame(next_.fd.get(), MsgType::kAllgather, base + sendBlock * bytesPerRank,
              static_cast<uint32_t>(bytesPerRank), d,
              "bootstrap allgather to " + rankName(next_.rank));
    std::vector<char> payload;
    MsgType t = MsgType::kAllgather;
    if (!prev_.early.empty()) {
      payload = std::move(prev_.early.front());
      prev_.early.pop_front();
    } else {
      t = readControl(prev_, next_, &payload);
    }
    if (t != MsgType::kAllgather || payload.size() != bytesPerRank) {
      fail(braidRemoteError, "bootstrap allgather: ", rankName(prev_.rank),
           " sent an unexpected message (type ", static_cast<int>(t), ", ", payload.size(),
           " bytes)");
    }
    std::memcpy(base + recvBlock * bytesPerRank, payload.data(), bytesPerRank);
  }
}

void Bootstrap::barrier() {
  std::vector<char> token(static_cast<size_t>(nranks_));
  allgather(token.data(), 1);
}

MsgType Bootstrap::readControl(Neighbour& n, Neighbour& other, std::vector<char>* payload) {
  if (n.gone) fail(braidRemoteError, rankName(n.rank), " has left the communicator");
  MsgType t;
  try {
    t = recvFrame(n.fd.get(), payload, deadline(), "control message from " + rankName(n.rank));
  } catch (const Error& e) {
    if (e.code() == braidRemoteError) {
      fail(braidRemoteError, rankName(n.rank),
           " closed its control connection without braidCommDestroy (it died or aborted): ",
           e.what());
    }
    throw;
  }
  if (t == MsgType::kAbort) raiseAbort(*payload, other);
  if (t == MsgType::kBye) n.gone = true;
  return t;
}

void Bootstrap::raiseAbort(const std::vector<char>& payload, Neighbour& other) {
  AbortNotice notice{-1, braidRemoteError};
  if (payload.size() >= sizeof(notice)) std::memcpy(&notice, payload.data(), sizeof(notice));
  std::string text(payload.begin() + std::min(payload.size(), sizeof(notice)), payload.end());
  forward(other, payload, notice.origin);
  braidResult_t code = notice.code > 0 && notice.code < braidNumResults
                           ? static_cast<braidResult_t>(notice.code)
                           : braidRemoteError;
  throw PeerFailure(code, "rank " + std::to_string(notice.origin) + " failed: " + text);
}

void Bootstrap::forward(Neighbour& to, const std::vector<char>& payload, int origin) {
  if (to.gone || !to.fd.valid() || to.rank == origin) return;
  try {
    sendFrame(to.fd.get(), MsgType::kAbort, payload.data(), static_cast<uint32_t>(payload.size()),
              Deadline::after(200), "abort notice");
  } catch (const Error&) {
    // Best effort: the other direction of the ring carries the notice too.
  }
}

void Bootstrap::addControlFds(std::vector<pollfd>* fds) const {
  for (const Neighbour* n : {&next_, &prev_}) {
    if (n->fd.valid() && !n->gone) fds->push_back(pollfd{n->fd.get(), POLLIN, 0});
  }
}

void Bootstrap::handleControl() {
  for (auto [n, other] : {std::pair{&next_, &prev_}, std::pair{&prev_, &next_}}) {
    if (!n->fd.valid() || n->gone) continue;
    pollfd p{n->fd.get(), POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) continue;
    std::vector<char> payload;
    MsgType t = readControl(*n, *other, &payload);
    if (t == MsgType::kAllgather) {
      n->early.push_back(std::move(payload));
      continue;
    }
    if (t != MsgType::kBye) {
      fail(braidRemoteError, rankName(n->rank), " sent an unexpected control message (type ",
           static_cast<int>(t), ")");
    }
  }
}

void Bootstrap::awaitAbortNotice(int ms) {
  auto end = Deadline::Clock::now() + std::chrono::milliseconds(ms);
  std::vector<pollfd> fds;
  for (;;) {
    fds.clear();
    addControlFds(&fds);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Deadline::Clock::now());
    if (fds.empty() || left.count() <= 0) return;
    if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) return;
    handleControl();  // throws the notice; a goodbye or an early block just loops
  }
}

void Bootstrap::broadcastAbort(braidResult_t code, const std::string& text) {
  std::vector<char> payload(sizeof(AbortNotice) + text.size());
  AbortNotice notice{rank_, code};
  std::memcpy(payload.data(), &notice, sizeof(notice));
  std::memcpy(payload.data() + sizeof(notice), text.data(), text.size());
  forward(next_, payload, rank_);
  if (prev_.rank != next_.rank || prev_.fd.get() != next_.fd.get()) forward(prev_, payload, rank_);
}

void Bootstrap::sayGoodbye() {
  for (Neighbour* n : {&next_, &prev_}) {
    if (!n->fd.valid()) continue;
    try {
      sendFrame(n->fd.get(), MsgType::kBye, nullptr, 0, Deadline::after(200), "goodbye");
    } catch (const Error&) {
      // The neighbour is already gone.
    }
  }
}

}  // namespace braid
