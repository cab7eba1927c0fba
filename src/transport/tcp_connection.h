// The tcp transport's Connection: several non-blocking TCP streams per peer. A message of
// kStripeMinBytes or more is cut into one piece per stream so large transfers use them all;
// smaller ones travel whole on stream 0. Both ends cut the same way, so no framing is sent.
// Posted receives into caller memory are read straight into it (readv), never through a slot.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "transport/connection.h"
#include "transport/socket.h"

namespace braid {

class TcpConnection final : public Connection {
 public:
  static constexpr size_t kStripeMinBytes = 64 << 10;

  TcpConnection(int peer, std::vector<Fd> streams, size_t slotBytes, int nslots);

  const char* transportName() const override { return "tcp"; }
  size_t slotBytes() const override { return slotBytes_; }

  bool sendSlotFree() const override { return handedOut_ >= 0 || !freeSendSlots_.empty(); }
  void* sendSlot() override;
  void postSlot(size_t bytes) override;
  void postSend(const void* data, size_t bytes) override;
  void postSendBatched(const void* data, size_t bytes) override;
  bool sendsDone() const override { return sends_.empty(); }

  void postRecv(void* data, size_t bytes) override;
  void postRecvSlot(size_t bytes) override;
  bool recvReady() const override;
  const void* recvData() const override { return recvs_.front().data; }
  void recvDone() override;
  bool recvsDone() const override { return recvs_.empty(); }
  size_t recvsPending() const override { return recvs_.size(); }

  bool progress() override;
  bool prepareToSleep(std::vector<pollfd>* fds) override;
  void shutdown() override;

 private:
  struct Piece {
    char* data;
    size_t len;
    size_t done;
    uint64_t msg;  // sequence number of the message it belongs to
  };
  struct Stream {
    Fd fd;
    std::deque<Piece> sendQ;
    std::deque<Piece> recvQ;
  };
  struct SendMsg {
    int slot;  // -1: caller memory
    size_t piecesLeft;
  };
  struct RecvMsg {
    char* data;
    size_t bytes;
    bool staged;
    int slot;  // assigned staging slot, or -1
    bool assigned;
    size_t piecesLeft;
  };

  // Cuts a message into per-stream pieces and queues them.
  template <typename Queue>
  size_t enqueuePieces(char* data, size_t bytes, uint64_t msg, Queue queueOf);
  // Queues a message; `start` sends what it can at once (latency matters for small messages).
  void queueSend(char* data, size_t bytes, int slot, bool start = true);
  // Gives queued receives their slots and wire pieces, strictly in posting order.
  void assignRecvs();
  bool progressSend(Stream& s);
  bool progressRecv(Stream& s);
  void completeSendPiece(uint64_t msg);
  void completeRecvPiece(uint64_t msg);

  std::vector<Stream> streams_;
  size_t slotBytes_;
  std::vector<std::unique_ptr<char[]>> sendSlots_;
  std::vector<std::unique_ptr<char[]>> recvSlots_;
  std::vector<int> freeSendSlots_;
  int handedOut_ = -1;  // the slot sendSlot() returned, until postSlot()
  std::vector<int> freeRecvSlots_;
  std::deque<SendMsg> sends_;  // sends_[i] is message sendBase_ + i
  uint64_t sendBase_ = 0;
  std::deque<RecvMsg> recvs_;  // recvs_[i] is message recvBase_ + i
  uint64_t recvBase_ = 0;
  size_t nextToAssign_ = 0;  // index into recvs_
};

}  // namespace braid
