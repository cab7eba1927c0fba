// The shm transport's Connection, for peers on the same host. Each direction is a FIFO of slots
// in an anonymous shared-memory file (memfd) created by its consumer, so first touch puts the
// pages on the consumer's NUMA node. The producer opens it through /proc/<pid>/fd/<n>; it never
// has a name, so no crash, not even SIGKILL, can leave anything in /dev/shm. Head and tail
// counters sit on their own cache lines.
//  - A staged receive hands the algorithm the slot in place; a fused step reads it once.
//  - sendSlot() is the next slot of the peer's FIFO itself, so a fused step writes it once.
//  - Caller-memory sends and receives are copied through the slots piece by piece.
// A one-stream TCP side channel to the peer carries the set-up, serves as the doorbell that wakes
// a peer sleeping in poll() (it arms a flag in shared memory first; whoever changes the FIFO
// rings if the flag is set), and its end-of-file is how a dead peer is noticed.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "core/deadline.h"
#include "transport/connection.h"
#include "transport/socket.h"

namespace braid {

// One mapped shared-memory segment.
class ShmSegment {
 public:
  ShmSegment() = default;
  ~ShmSegment();
  ShmSegment(ShmSegment&& o) noexcept;
  ShmSegment& operator=(ShmSegment&& o) noexcept;
  ShmSegment(const ShmSegment&) = delete;
  ShmSegment& operator=(const ShmSegment&) = delete;

  // A new memfd of `bytes`, its pages reserved (a full tmpfs fails here, not with SIGBUS later).
  static ShmSegment create(size_t bytes);
  // Maps another process's segment by its /proc path.
  static ShmSegment open(const std::string& path, size_t bytes);
  // The path a process on this host opens the segment by, while the handle is held.
  std::string path() const;
  void closeHandle() { fd_.reset(); }  // the mapping stays
  char* data() const { return static_cast<char*>(addr_); }

 private:
  void* addr_ = nullptr;
  size_t bytes_ = 0;
  Fd fd_;
};

class ShmConnection final : public Connection {
 public:
  // Creates this side's receive FIFO and sends its name to the peer. The rest of the handshake
  // (map the peer's FIFO, swap acknowledgements, drop the handles) happens in progress(), so making
  // a connection never waits for the peer: ranks may open connections in any order.
  ShmConnection(int peer, Fd sideChannel, size_t slotBytes, int nslots, const Deadline& deadline);

  const char* transportName() const override { return "shm"; }
  size_t slotBytes() const override { return slotBytes_; }

  bool sendSlotFree() const override;
  void* sendSlot() override;
  void postSlot(size_t bytes) override;
  void postSend(const void* data, size_t bytes) override;
  bool sendsDone() const override { return sends_.empty(); }

  void postRecv(void* data, size_t bytes) override;
  void postRecvSlot(size_t bytes) override;
  bool recvReady() const override;
  const void* recvData() const override;
  void recvDone() override;
  bool recvsDone() const override { return recvs_.empty(); }

  bool progress() override;
  bool prepareToSleep(std::vector<pollfd>* fds) override;
  void shutdown() override;

  struct alignas(64) Fifo {
    alignas(64) std::atomic<uint64_t> tail;  // slots published by the producer
    alignas(64) std::atomic<uint64_t> head;  // slots released by the consumer
    alignas(64) std::atomic<uint32_t> consumerSleeping;
    alignas(64) std::atomic<uint32_t> producerSleeping;
  };

 private:
  enum class State { kAwaitName, kAwaitAck, kReady };
  // Moves the handshake on without blocking; true once the FIFOs are usable.
  bool advanceHandshake();
  bool ready() const { return state_ == State::kReady; }
  char* slot(char* base, uint64_t index) const {
    return base + sizeof(Fifo) + (index % static_cast<uint64_t>(nslots_)) * slotBytes_;
  }
  void publish();  // one more slot toward the peer
  void release();  // one slot of the peer's back to it
  void ring(std::atomic<uint32_t>& sleeping);
  // The FIFO changed since progress() last looked (data arrived, or the peer freed slots).
  bool changedSinceProgress() const;

  struct PendingSend {
    const char* data;
    size_t bytes;
    size_t done;
  };
  struct PendingRecv {
    char* data;  // nullptr: staged (the slot itself is the data)
    size_t bytes;
    size_t done;
  };

  Fd side_;
  ShmSegment inSeg_;
  ShmSegment outSeg_;
  Fifo* in_ = nullptr;
  Fifo* out_ = nullptr;
  State state_ = State::kAwaitName;
  char peerName_[96] = {};
  size_t peerNameBytes_ = 0;
  size_t slotBytes_;
  int nslots_;
  std::deque<PendingSend> sends_;
  std::deque<PendingRecv> recvs_;
  bool armed_ = false;
  // The side channel reached end-of-file: the peer is gone (died, or destroyed its communicator
  // after its last call). What it left in the FIFO is still good; only waiting for more fails.
  bool peerClosed_ = false;
  uint64_t seenTail_ = 0;  // in_->tail as progress() last saw it
  uint64_t seenHead_ = 0;  // out_->head as progress() last saw it
};

}  // namespace braid
