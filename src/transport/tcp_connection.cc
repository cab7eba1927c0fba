// TcpConnection: queues of pieces per stream, moved with writev/readv on non-blocking sockets.
#include "transport/tcp_connection.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <string>

#include "core/error.h"

namespace braid {

namespace {

constexpr int kMaxIov = 64;
constexpr size_t kPieceAlign = 4096;

}  // namespace

TcpConnection::TcpConnection(int peer, std::vector<Fd> streams, size_t slotBytes, int nslots)
    : Connection(peer), slotBytes_(slotBytes) {
  for (Fd& fd : streams) {
    setNonBlocking(fd.get(), true);
    setNoDelay(fd.get());
    streams_.push_back(Stream{std::move(fd), {}, {}});
  }
  for (int i = 0; i < nslots; ++i) {
    sendSlots_.push_back(std::make_unique<char[]>(slotBytes));
    recvSlots_.push_back(std::make_unique<char[]>(slotBytes));
    freeSendSlots_.push_back(i);
    freeRecvSlots_.push_back(i);
  }
}

template <typename Queue>
size_t TcpConnection::enqueuePieces(char* data, size_t bytes, uint64_t msg, Queue queueOf) {
  size_t n = streams_.size();
  if (bytes < kStripeMinBytes || n == 1) {
    if (bytes > 0) queueOf(streams_[0]).push_back(Piece{data, bytes, 0, msg});
    return bytes > 0 ? 1 : 0;
  }
  size_t per = (bytes / n + kPieceAlign - 1) / kPieceAlign * kPieceAlign;
  size_t pieces = 0;
  for (size_t s = 0; s < n && s * per < bytes; ++s) {
    size_t len = std::min(per, bytes - s * per);
    queueOf(streams_[s]).push_back(Piece{data + s * per, len, 0, msg});
    ++pieces;
  }
  return pieces;
}

// Taken off the free list at once: progress() between sendSlot() and postSlot() may free other
// slots, and postSlot() must send the one the caller filled.
void* TcpConnection::sendSlot() {
  if (handedOut_ < 0) {
    handedOut_ = freeSendSlots_.back();
    freeSendSlots_.pop_back();
  }
  return sendSlots_[handedOut_].get();
}

void TcpConnection::postSlot(size_t bytes) {
  if (handedOut_ < 0) sendSlot();
  int slot = handedOut_;
  handedOut_ = -1;
  queueSend(sendSlots_[slot].get(), bytes, slot);
}

void TcpConnection::postSend(const void* data, size_t bytes) {
  // The const is dropped only to share the piece type with receives; sends never write.
  queueSend(const_cast<char*>(static_cast<const char*>(data)), bytes, -1);
}

void TcpConnection::postSendBatched(const void* data, size_t bytes) {
  queueSend(const_cast<char*>(static_cast<const char*>(data)), bytes, -1, false);
}

void TcpConnection::queueSend(char* data, size_t bytes, int slot, bool start) {
  uint64_t msg = sendBase_ + sends_.size();
  size_t pieces = enqueuePieces(
      data, bytes, msg, [](Stream & s) -> auto& { return s.sendQ; });
  sends_.push_back(SendMsg{slot, pieces});
  if (pieces == 0) completeSendPiece(msg);  // an empty message is done at once
  if (start) progress();
}

void TcpConnection::completeSendPiece(uint64_t msg) {
  SendMsg& m = sends_[msg - sendBase_];
  if (m.piecesLeft > 0) --m.piecesLeft;
  if (m.piecesLeft > 0) return;
  if (m.slot >= 0) {
    freeSendSlots_.push_back(m.slot);
    m.slot = -1;
  }
  while (!sends_.empty() && sends_.front().piecesLeft == 0) {
    sends_.pop_front();
    ++sendBase_;
  }
}

void TcpConnection::postRecv(void* data, size_t bytes) {
  recvs_.push_back(RecvMsg{static_cast<char*>(data), bytes, false, -1, false, 0});
  assignRecvs();
}

void TcpConnection::postRecvSlot(size_t bytes) {
  if (bytes > slotBytes_) {
    fail(braidInternalError, "staged receive of ", bytes, " bytes exceeds the slot size ",
         slotBytes_);
  }
  recvs_.push_back(RecvMsg{nullptr, bytes, true, -1, false, 0});
  assignRecvs();
}

void TcpConnection::assignRecvs() {
  while (nextToAssign_ < recvs_.size()) {
    RecvMsg& m = recvs_[nextToAssign_];
    if (m.staged) {
      if (freeRecvSlots_.empty()) return;  // later messages wait too: the wire is in order
      m.slot = freeRecvSlots_.back();
      freeRecvSlots_.pop_back();
      m.data = recvSlots_[m.slot].get();
    }
    m.assigned = true;
    m.piecesLeft = enqueuePieces(
        m.data, m.bytes, recvBase_ + nextToAssign_, [](Stream & s) -> auto& { return s.recvQ; });
    ++nextToAssign_;
  }
}

bool TcpConnection::recvReady() const {
  return !recvs_.empty() && recvs_.front().assigned && recvs_.front().piecesLeft == 0;
}

void TcpConnection::recvDone() {
  RecvMsg& m = recvs_.front();
  if (m.slot >= 0) freeRecvSlots_.push_back(m.slot);
  recvs_.pop_front();
  ++recvBase_;
  --nextToAssign_;
  assignRecvs();
}

void TcpConnection::completeRecvPiece(uint64_t msg) {
  --recvs_[msg - recvBase_].piecesLeft;
}

bool TcpConnection::progressSend(Stream& s) {
  bool moved = false;
  while (!s.sendQ.empty()) {
    iovec iov[kMaxIov];
    int n = 0;
    for (auto it = s.sendQ.begin(); it != s.sendQ.end() && n < kMaxIov; ++it, ++n) {
      iov[n] = iovec{it->data + it->done, it->len - it->done};
    }
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = static_cast<size_t>(n);
    ssize_t w = sendmsg(s.fd.get(), &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return moved;
      fail(braidRemoteError, "sending to rank ", peer(), " failed: ", errnoText("send", errno),
           " (the peer died or closed the connection)");
    }
    moved = true;
    size_t left = static_cast<size_t>(w);
    while (left > 0) {
      Piece& p = s.sendQ.front();
      size_t take = std::min(left, p.len - p.done);
      p.done += take;
      left -= take;
      if (p.done == p.len) {
        uint64_t msg = p.msg;
        s.sendQ.pop_front();
        completeSendPiece(msg);
      }
    }
  }
  return moved;
}

bool TcpConnection::progressRecv(Stream& s) {
  bool moved = false;
  while (!s.recvQ.empty()) {
    iovec iov[kMaxIov];
    int n = 0;
    for (auto it = s.recvQ.begin(); it != s.recvQ.end() && n < kMaxIov; ++it, ++n) {
      iov[n] = iovec{it->data + it->done, it->len - it->done};
    }
    msghdr mh{};
    mh.msg_iov = iov;
    mh.msg_iovlen = static_cast<size_t>(n);
    ssize_t r = recvmsg(s.fd.get(), &mh, MSG_DONTWAIT);
    if (r == 0) {
      fail(braidRemoteError, "rank ", peer(),
           " closed the connection (it died, aborted or destroyed its communicator)");
    }
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return moved;
      fail(braidRemoteError, "receiving from rank ", peer(), " failed: ", errnoText("recv", errno),
           " (the peer died or closed the connection)");
    }
    moved = true;
    size_t left = static_cast<size_t>(r);
    while (left > 0) {
      Piece& p = s.recvQ.front();
      size_t take = std::min(left, p.len - p.done);
      p.done += take;
      left -= take;
      if (p.done == p.len) {
        uint64_t msg = p.msg;
        s.recvQ.pop_front();
        completeRecvPiece(msg);
      }
    }
  }
  return moved;
}

bool TcpConnection::progress() {
  bool moved = false;
  for (Stream& s : streams_) {
    moved |= progressSend(s);
    moved |= progressRecv(s);
  }
  return moved;
}

bool TcpConnection::prepareToSleep(std::vector<pollfd>* fds) {
  for (const Stream& s : streams_) {
    short events = 0;
    if (!s.sendQ.empty()) events |= POLLOUT;
    if (!s.recvQ.empty()) events |= POLLIN;
    if (events != 0) fds->push_back(pollfd{s.fd.get(), events, 0});
  }
  return true;
}

void TcpConnection::shutdown() {
  for (Stream& s : streams_)
    ::shutdown(s.fd.get(), SHUT_RDWR);
}

}  // namespace braid
