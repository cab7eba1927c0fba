// The ib transport's Connection: one reliable-connected (RC) queue pair per peer.
//
// Each side registers a ring of nslots slots that the peer writes into with RDMA WRITE WITH
// IMMEDIATE (DESIGN §5); the immediate carries the byte count, and RC delivers writes in order, so
// the n-th slot arrival fills slot n % nslots. The sender holds one credit per free slot of the
// peer's ring; the receiver hands credits back, batched, as zero-length SEND WITH IMMEDIATE
// messages (count in the immediate) once the algorithm has consumed the slots.
//  - sendSlot() is a registered local staging slot; postSlot() writes it to the peer's next slot.
//  - A message of at most a slot from caller memory: from kZeroCopyMinBytes on it is written
//    straight from the caller's memory, smaller ones are copied through a staging slot first.
//  - A message longer than a slot goes straight from caller memory to caller memory (both sides
//    know: a staged receive is never longer than a slot). The receiver registers its buffer and
//    advertises it (address, key, length) by an RDMA write with immediate into the sender's
//    advert ring of kAdverts entries; the sender writes the message into it, the last write
//    carrying an immediate that completes the receive. No slot and no copy on either side.
//  - Caller memory is registered through RegistrationCaches, released by operationDone().
//  - Staged receives hand the algorithm the ring slot in place; shorter caller-memory receives
//    are copied out of the ring piece by piece.
// Every arrival uses a zero-length receive request; enough stay posted for the most that can be
// outstanding (nslots slot writes, nslots credit messages, kAdverts adverts, kAdverts direct
// completions).
//  - Completions (ours and the peer's arrivals) come through one completion queue, polled by
//    progress(); prepareToSleep() arms its completion channel, whose fd wakes the poll().
// Set-up: the endpoint (QP number, PSN, GID/LID, MTU, ring address and key) goes over the TCP side
// channel from the bootstrap; each side moves its QP to RTR/RTS on the peer's endpoint and then
// sends one acknowledgement byte, and no data is written before the peer's acknowledgement (its QP
// is ready to receive). Like shm, the handshake advances in progress(), so connections open in any
// order. Afterwards the side channel's end-of-file is how a dead peer is noticed.
#pragma once

#include <infiniband/verbs.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "transport/connection.h"
#include "transport/ib/registration_cache.h"
#include "transport/ib/verbs/ib_port.h"

namespace braid {

class IbConnection final : public Connection {
 public:
  static constexpr size_t kZeroCopyMinBytes = 64 << 10;
  static constexpr int kAdverts = 4;

  IbConnection(int peer, std::shared_ptr<IbPort> port, Fd side, size_t slotBytes, int nslots,
               const Deadline& deadline);
  ~IbConnection() override;

  const char* transportName() const override { return "ib"; }
  size_t slotBytes() const override { return slotBytes_; }

  bool sendSlotFree() const override {
    return (handedOut_ >= 0 || !freeStage_.empty()) && callerSends_ == 0;
  }
  void* sendSlot() override;
  void postSlot(size_t bytes) override;
  void postSend(const void* data, size_t bytes) override;
  bool sendsDone() const override { return sends_.empty() && dataInFlight_ == 0; }

  void postRecv(void* data, size_t bytes) override;
  void postRecvSlot(size_t bytes) override;
  bool recvReady() const override;
  const void* recvData() const override;
  void recvDone() override;
  bool recvsDone() const override { return recvs_.empty(); }
  size_t recvsPending() const override { return recvs_.size(); }

  bool progress() override;
  bool prepareToSleep(std::vector<pollfd>* fds) override;
  void shutdown() override;
  void operationDone() override;

  // What both sides exchange over the side channel.
  struct Endpoint {
    uint32_t magic;
    uint32_t qpn;
    uint32_t psn;
    uint32_t rkey;
    uint64_t ringAddr;
    uint64_t slotBytes;
    uint32_t nslots;
    uint16_t lid;
    uint8_t mtu;  // enum ibv_mtu
    uint8_t pad;
    uint8_t gid[16];
    uint64_t advertAddr;
    uint32_t advertRkey;
    uint32_t pad2;
  };
  // A receive buffer offered for a direct write.
  struct Advert {
    uint64_t addr;
    uint64_t bytes;
    uint32_t rkey;
    uint32_t pad;
  };

 private:
  enum class State { kAwaitEndpoint, kAwaitAck, kReady };
  struct PendingSend {
    const char* data;  // caller memory, or nullptr for a filled staging slot
    size_t bytes;
    size_t done;
    int stage;  // the staging slot of a postSlot()
  };
  struct PendingRecv {
    char* data;  // nullptr: staged (the ring slot itself is the data)
    size_t bytes;
    size_t done;
    bool direct;  // longer than a slot: the peer writes it in place
  };
  template <typename T, int (*Destroy)(T*)>
  struct Deleter {
    void operator()(T* p) const { Destroy(p); }
  };
  using Buffer = std::unique_ptr<char, void (*)(void*)>;

  bool ready() const { return state_ == State::kReady; }
  bool isDirect(size_t bytes) const { return bytes > slotBytes_; }
  char* stageSlot(int i) const { return stage_.get() + static_cast<size_t>(i) * slotBytes_; }
  char* ringSlot(uint64_t n) const {
    return ring_.get() + (n % static_cast<uint64_t>(nslots_)) * slotBytes_;
  }
  ibv_mr* registerMemory(void* addr, size_t bytes, int access) const;
  RegistrationCache makeCache(int access);
  void createQueuePair();
  void moveToInit();
  void moveToReadyToSend(const Endpoint& remote);
  Endpoint localEndpoint() const;
  bool advanceHandshake();
  void postReceive();
  // Posts one signaled RDMA write (with `imm` unless noImmediate) to the peer's memory.
  void postWrite(const char* from, size_t bytes, uint32_t lkey, uint64_t remote, uint32_t rkey,
                 uint64_t workId, bool withImm, uint32_t imm);
  void postSlotWrite(const char* from, size_t bytes, uint32_t lkey, int stage);
  // Writes the front send (longer than a slot) into the buffer the peer advertised; false while
  // no advert is there.
  bool postDirect();
  // Moves queued sends onto the wire as far as credits, adverts and the send queue allow.
  bool postWrites();
  bool sendAdverts();
  bool returnCredits();
  bool copyIntoCallerMemory();
  bool pollCompletions();
  void onCompletion(const ibv_wc& wc);
  void onArrival(const ibv_wc& wc);
  // A piece arrives in the next ring slot to be consumed; checks it is the size expected.
  void checkArrivedBytes(size_t expected) const;
  void releaseSlot();
  void onDirectLanded();
  void consumeChannelEvents();
  void watchSideChannel();
  // The peer died, or the queue pair failed: an error if this side still needs it.
  void failIfStranded();
  std::string completionError(const ibv_wc& wc) const;
  bool sendQueueFull() const { return sendsInFlight_ >= maxSendWr_; }

  std::shared_ptr<IbPort> port_;
  Fd side_;
  size_t slotBytes_;
  int nslots_;
  uint32_t maxSendWr_;
  uint32_t recvDepth_;
  Buffer ring_;        // the peer writes here
  Buffer stage_;       // this side's staging slots
  Buffer advertsIn_;   // the peer's adverts land here
  Buffer advertsOut_;  // this side's adverts, while their writes are in flight
  std::unique_ptr<ibv_mr, Deleter<ibv_mr, ibv_dereg_mr>> ringMr_;
  std::unique_ptr<ibv_mr, Deleter<ibv_mr, ibv_dereg_mr>> stageMr_;
  std::unique_ptr<ibv_mr, Deleter<ibv_mr, ibv_dereg_mr>> advertsInMr_;
  std::unique_ptr<ibv_mr, Deleter<ibv_mr, ibv_dereg_mr>> advertsOutMr_;
  std::unique_ptr<ibv_comp_channel, Deleter<ibv_comp_channel, ibv_destroy_comp_channel>> channel_;
  std::unique_ptr<ibv_cq, Deleter<ibv_cq, ibv_destroy_cq>> cq_;
  std::unique_ptr<ibv_qp, Deleter<ibv_qp, ibv_destroy_qp>> qp_;
  RegistrationCache registrations_;      // caller memory this side sends from
  RegistrationCache recvRegistrations_;  // caller memory the peer writes into
  uint32_t psn_;
  State state_ = State::kAwaitEndpoint;
  Endpoint peerEndpoint_{};
  size_t peerEndpointBytes_ = 0;

  // Sending.
  std::vector<int> freeStage_;
  int handedOut_ = -1;  // the staging slot sendSlot() returned, until postSlot()
  std::deque<PendingSend> sends_;
  int callerSends_ = 0;          // caller-memory entries in sends_
  int credits_;                  // free slots in the peer's ring
  uint64_t writesPosted_ = 0;    // slot writes
  uint32_t dataInFlight_ = 0;    // data writes (slot or direct) not yet completed
  uint32_t sendsInFlight_ = 0;   // every send request not yet completed
  uint64_t advertsArrived_ = 0;  // in advertsIn_
  uint64_t advertsUsed_ = 0;     // direct messages written

  // Receiving.
  std::deque<PendingRecv> recvs_;
  std::vector<uint32_t> arrivedBytes_;  // per ring slot, from the immediate
  uint64_t arrived_ = 0;                // data writes landed in the ring
  uint64_t consumed_ = 0;               // ring slots released
  int creditsToReturn_ = 0;
  std::deque<Advert> unsentAdverts_;
  uint64_t advertsSent_ = 0;
  uint64_t advertsCompleted_ = 0;  // their writes completed here
  uint64_t directsLanded_ = 0;     // direct messages received (their adverts are consumed)

  std::vector<ibv_wc> stashed_;  // completions prepareToSleep() found after arming
  bool armed_ = false;
  unsigned unackedEvents_ = 0;
  bool peerClosed_ = false;
  std::string broken_;  // the first failed completion's text, once the queue pair failed
};

}  // namespace braid
