// A communicator's bootstrap: its listening socket, the table of every rank's listen address, and
// the control ring (a connection to the next and the previous rank). The control ring carries the
// init-time allgather and barrier, and, while collectives run, abort notices: a rank that fails
// tells both neighbours, which pass it on, so every rank's call fails with the first cause instead
// of waiting out a timeout. Data connections are opened through the same listener.
#pragma once

#include <poll.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bootstrap/wire.h"
#include "collectives/braid.h"
#include "core/deadline.h"
#include "transport/socket.h"

namespace braid {

class Bootstrap {
 public:
  // Opens the listener on the interface BRAID_SOCKET_IFNAME picks; rank and size come with join.
  Bootstrap(uint64_t commMagic, int64_t timeoutMs, const std::atomic<bool>* abort);
  ~Bootstrap();
  Bootstrap(const Bootstrap&) = delete;
  Bootstrap& operator=(const Bootstrap&) = delete;

  // The flag braidCommAbort sets; every bootstrap wait watches it.
  void setAbortFlag(const std::atomic<bool>* abort) { abort_ = abort; }
  const SockAddr& listenAddr() const { return listenAddr_; }
  const std::string& interfaceName() const { return ifname_; }
  int rank() const { return rank_; }
  int nranks() const { return nranks_; }
  uint64_t commMagic() const { return commMagic_; }

  // Meets the other ranks through the rendezvous root, then opens the control ring.
  void joinThroughRoot(const SockAddr& root, int rank, int nranks);
  // Opens the control ring with a table already known (braidCommSplit builds it).
  void joinWithTable(std::vector<SockAddr> table, int rank);

  // Every rank contributes bytesPerRank at data + rank*bytesPerRank; all receive all.
  void allgather(void* data, size_t bytesPerRank);
  void barrier();

  // Data connections: the lower rank connects nstreams sockets; the higher one accepts them.
  // While it waits, the acceptor calls whileWaiting about once a millisecond: the peer may only
  // come to connect once this rank's other connections have delivered what it queued on them.
  std::vector<Fd> connectData(int peer, int nstreams, const Deadline& deadline);
  std::vector<Fd> acceptData(int peer, const Deadline& deadline,
                             const std::function<void()>& whileWaiting);

  // While a collective waits: the control sockets to poll, and what to do when they are ready.
  // handleControl throws the abort a peer reported, or braidRemoteError for a neighbour that
  // vanished without saying goodbye.
  void addControlFds(std::vector<pollfd>* fds) const;
  void handleControl();
  // Waits up to ms for an abort notice from a neighbour and throws it if one comes; returns
  // quietly otherwise. Lets a rank that sees only a symptom (a closed socket, its own timeout)
  // report the cause another rank already knows.
  void awaitAbortNotice(int ms);
  // Tells both neighbours (best effort, never blocks long) that this rank failed.
  void broadcastAbort(braidResult_t code, const std::string& text);
  // Orderly leave: neighbours stop expecting this rank's control traffic.
  void sayGoodbye();

 private:
  struct Neighbour {
    Fd fd;
    int rank = -1;
    bool gone = false;  // said goodbye
    // Allgather blocks that arrived while this rank was still in an earlier call (a neighbour
    // already entered braidCommSplit): kept for the allgather that reads them.
    std::deque<std::vector<char>> early;
  };
  Deadline deadline() const { return Deadline::after(timeoutMs_, abort_); }
  void openRing();
  Fd acceptMatching(MsgType type, int peer, int stream, ConnectHello* hello,
                    const Deadline& deadline, const std::function<void()>& whileWaiting = {});
  // Waits (one poll slice, at most maxMs) for a connection on the listener while watching the
  // control ring, so a rank waiting for a peer that died before connecting fails with the
  // neighbours' notice instead of at its timeout. True when the listener has a connection.
  bool listenerOrControlReady(const Deadline& deadline, int maxMs);
  // Reads one control frame from n; handles abort and goodbye, returns other frames' type.
  MsgType readControl(Neighbour& n, Neighbour& other, std::vector<char>* payload);
  [[noreturn]] void raiseAbort(const std::vector<char>& payload, Neighbour& other);
  void forward(Neighbour& to, const std::vector<char>& payload, int origin);

  uint64_t commMagic_;
  int rank_ = -1;
  int nranks_ = 0;
  int64_t timeoutMs_;
  const std::atomic<bool>* abort_;
  SockAddr listenAddr_;
  std::string ifname_;
  Fd listener_;
  std::vector<SockAddr> table_;
  Neighbour next_;
  Neighbour prev_;
  // Connections accepted while waiting for another: (type, rank, stream) -> socket.
  std::map<std::tuple<int, int, int>, std::pair<Fd, ConnectHello>> stash_;
};

// Abort notice payload on the control ring.
struct AbortNotice {
  int32_t origin;
  int32_t code;
  // followed by the text
};

}  // namespace braid
