// The shm transport's Connection, for peers on the same host. Each direction is a FIFO of slots
// in an anonymous shared-memory file (memfd) created by its consumer, so first touch puts the
// pages on the consumer's NUMA node. The producer opens it through /proc/<pid>/fd/<n>; it never
// has a name, so no crash, not even SIGKILL, can leave anything in /dev/shm. Head and tail
// counters sit on their own cache lines. Messages of up to 4 KiB skip the slots: they go as
// records in a ring beside them (see small()).
//  - A staged receive hands the algorithm the slot in place; a fused step reads it once.
//  - sendSlot() is the next slot of the peer's FIFO itself, so a fused step writes it once.
//  - Caller-memory sends and receives are copied through the slots piece by piece, except that in
//    an operation of singleCopyMin..singleCopyMax bytes a postSendDirect (a message the peer
//    receives into caller memory) goes as a descriptor (its address and length) that the
//    receiver reads straight from the sender's memory: one copy instead of two. The receiver
//    releases the descriptor's slot once it has read the data, which is the sender's signal that
//    its buffer is free. This needs process_vm_readv on the peer (ptrace permission; between
//    threads of one process a memcpy): each side probes it during the handshake and tells the
//    other, and where it fails the messages go through the slots. Direct sends queued one after
//    another that continue each other's memory go as one descriptor, read with one system call
//    (beyond the caches, 512 KiB at a time reads at half the speed). Measured on 2 cores with a
//    core per rank, the one copy wins allgather at every size from 16 KiB (1.1-2.7x) and
//    out-of-place broadcast (where ranks share cores, only from 256 KiB: the sender waits for its
//    receiver's time slice, see Comm::connection); an allreduce's finished chunks (hot in the
//    producer's cache) are faster through the slots, so the ring sends those with postSend, and so
//    does an in-place broadcast root beyond the caches (sendFromBroadcastRoot), which would leave
//    its receiver every copy.
// A one-stream TCP side channel to the peer carries the set-up, serves as the doorbell that wakes
// a peer sleeping in poll() (it arms a flag in shared memory first; whoever changes the FIFO
// rings if the flag is set; see notifyConsumer() for the barrier that makes this safe), and its
// end-of-file is how a dead peer is noticed.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

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
  // Operations of singleCopyMin..singleCopyMax bytes may go single-copy; singleCopyMin 0: never,
  // singleCopyMax 0: no limit. rarelySleeps: this rank spins before it sleeps (it has a core to
  // itself), so a membarrier before each sleep costs little, and spares the peer a fence per
  // message (notifyConsumer()).
  ShmConnection(int peer, Fd sideChannel, size_t slotBytes, int nslots, size_t singleCopyMin,
                size_t singleCopyMax, bool rarelySleeps, const Deadline& deadline);

  const char* transportName() const override { return "shm"; }
  size_t slotBytes() const override { return slotBytes_; }

  bool sendSlotFree() const override;
  void* sendSlot() override;
  void postSlot(size_t bytes) override;
  void postSend(const void* data, size_t bytes) override;
  void postSendDirect(const void* data, size_t bytes) override;
  bool sendsDone() const override { return sends_.empty() && awaitingRead_.empty(); }
  void beginOperation(size_t bytes) override { operationBytes_ = bytes; }
  void operationDone() override { slotWanted_ = false; }

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

  static size_t slotStride(size_t slotBytes) { return (slotBytes + 63) / 64 * 64; }
  // The small-message ring (see small()) before the slots, and the messages it carries.
  static constexpr size_t kRingBytes = 32768;
  static constexpr size_t kSmallMaxMessage = 4096;

  struct alignas(64) Fifo {
    alignas(64) std::atomic<uint64_t> tail;      // slots published by the producer
    std::atomic<uint64_t> descriptors;           // bit i: slot i holds a Descriptor (tail's line)
    alignas(64) std::atomic<uint64_t> head;      // slots released by the consumer
    alignas(64) std::atomic<uint64_t> ringHead;  // bytes of the small-message ring released
    alignas(64) std::atomic<uint32_t> consumerSleeping;
    alignas(64) std::atomic<uint32_t> producerSleeping;
  };

 private:
  enum class State { kAwaitName, kAwaitAck, kReady };
  // Moves the handshake on without blocking; true once the FIFOs are usable.
  bool advanceHandshake();
  bool ready() const { return state_ == State::kReady; }
  char* slot(char* base, uint64_t index) const {
    return base + sizeof(Fifo) + kRingBytes +
           (index % static_cast<uint64_t>(nslots_)) * slotStride(slotBytes_);
  }
  void publish();           // the slots written so far (sendTail_) toward the peer
  void release();           // the slots consumed so far (recvHead_) back to the peer
  bool outHasRoom() const;  // a slot of the peer's FIFO is free
  bool inHasData() const;   // a published slot awaits consuming
  // Sends are queued or await the peer's read, or the last sendSlotFree() found no room (a staged
  // send waits for a slot, or for the ring's room).
  bool waitingForRoom() const { return !sends_.empty() || !awaitingRead_.empty() || slotWanted_; }
  void ring(std::atomic<uint32_t>& sleeping);
  // The FIFO changed since the watched progress() began (data arrived, or the peer freed slots).
  bool changedSinceProgress() const;

  struct PendingSend {
    const char* data;
    size_t bytes;
    size_t done;
    bool direct;  // the peer takes it into caller memory: it may go single-copy
  };
  struct PendingRecv {
    char* data;  // nullptr: staged (the slot itself is the data)
    size_t bytes;
    size_t done;
  };

  // What a single-copy send puts in its slot.
  struct Descriptor {
    uint64_t address;
    uint64_t bytes;
  };
  bool isDescriptor(uint64_t index) const;
  void markDescriptor(uint64_t index, bool descriptor);  // before the slot is published
  // Small messages (1..kSmallMaxMessage bytes; both sides know every message's size, so both know
  // which these are) travel in a ring of kRingBytes beside the slots, each as a record: an 8-byte
  // stamp, stored last, then the bytes, padded to kRecordAlign. The stamp holds the record's
  // position in the stream (which only grows, so a stamp left from an earlier lap never passes
  // for a new one) and the message's length, which the receiver checks against the one it
  // expects. Nor can an earlier lap's payload pass for a stamp: before it stores a stamp, the
  // sender clears the word where the next stamp goes, so the reader, which looks there only after
  // it has seen this stamp, finds zero or the next stamp. Records never wrap: one that would not
  // fit before the ring's end is preceded by a stamp that sends the reader to the start. So a
  // small message costs no slot and no publish of the tail: the receiver polls its stamp, and a
  // sender that runs ahead fills cache lines with several records that the receiver takes in one
  // transfer. The receiver hands the space back lazily (the ring's head, on its own cache line):
  // after a quarter of the ring, and whenever a poll finds nothing to do, so a receiver that
  // waits for something else never holds space that its sender waits for.
  static constexpr size_t kRecordAlign = 16;
  static constexpr uint64_t kWrapLength = 0xffff;  // a stamp's length field: go to the ring's start
  static_assert(kSmallMaxMessage < kWrapLength && kRingBytes % kRecordAlign == 0 &&
                kRingBytes >= 4 * (kSmallMaxMessage + kRecordAlign));
  static bool small(size_t bytes) { return bytes > 0 && bytes <= kSmallMaxMessage; }
  static size_t recordBytes(size_t bytes) {
    return (sizeof(uint64_t) + bytes + kRecordAlign - 1) / kRecordAlign * kRecordAlign;
  }
  static uint64_t stampFor(uint64_t position, uint64_t length) {
    return (position / kRecordAlign + 1) << 16 | length;
  }
  std::atomic_ref<uint64_t> stampAt(char* base, uint64_t position) const {
    return std::atomic_ref<uint64_t>(
        *reinterpret_cast<uint64_t*>(base + sizeof(Fifo) + position % kRingBytes));
  }
  // The ring's bytes a record of a `bytes` message takes at ringTail_: the rest of the lap if it
  // must skip to the start, the record, and the next stamp's word, which it clears.
  size_t ringSpan(size_t bytes) const;
  bool ringHasRoom(size_t bytes) const;  // for a record of a `bytes` message
  void writeRecord(const void* data, size_t bytes);
  // Whether the next record has arrived (moving past a wrap stamp), its message's length, and its
  // data, valid until the record is consumed.
  bool recordArrived() const;
  uint64_t recordLength() const;
  const char* recordData() const;
  // Moves past the next record once its length is checked against `bytes`, first copying its data
  // to `copyTo` unless that is null: once past, the record may be handed back to the sender.
  void consumeRecord(size_t bytes, void* copyTo);
  void releaseRing();     // the ring's bytes consumed so far (ringRead_) back to the peer
  void notifyConsumer();  // after records written without a publish: wakes a sleeping peer
  // Whether this process can read the peer's memory at `address` (sent in the handshake).
  bool probeRead(uint64_t address) const;
  // Copies `bytes` from the peer's memory at `address` into the pieces of `local`, in order.
  void readPeer(uint64_t address, size_t bytes, std::vector<iovec>& local) const;
  // Reads what the descriptor in slot recvHead_ holds beyond descriptorRead_ into the posted
  // receives from `first` on that it covers (done 0, into caller memory), in one read: none
  // when no receive is posted for it yet. Returns the bytes read.
  size_t readDescriptor(std::deque<PendingRecv>::iterator first);

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
  size_t singleCopyMin_;
  size_t singleCopyMax_;
  size_t operationBytes_ = 0;
  int peerPid_ = 0;
  bool peerReadsMe_ = false;     // the peer's probe read this process: sends may go single-copy
  uint64_t descriptorMask_ = 0;  // out_->descriptors as this side last wrote it
  // The ring: bytes written toward the peer, and the peer's head when last loaded; the next
  // record to read from the peer, and how far this side has released.
  uint64_t ringTail_ = 0;
  mutable uint64_t ringHeadSeen_ = 0;
  mutable uint64_t ringRead_ = 0;
  uint64_t ringReleased_ = 0;
  bool unnotified_ = false;          // records written since the last publish or notifyConsumer()
  mutable bool slotWanted_ = false;  // the last sendSlotFree() of this operation said no
  bool barrierBeforeSleep_;          // this side issues a membarrier before sleeping (and said so)
  bool fenceFree_ = false;           // the peer issues one: see notifyConsumer()
  uint64_t descriptorRead_ = 0;      // bytes of the descriptor at recvHead_ read so far
  static constexpr size_t kMaxReadPieces = 64;  // receives one read fills at most
  std::vector<iovec> readPieces_;               // their pieces (kept to spare allocations)
  std::deque<uint64_t> awaitingRead_;  // single-copy sends: the release count that frees each
  std::deque<PendingSend> sends_;
  std::deque<PendingRecv> recvs_;
  bool armed_ = false;
  // The side channel reached end-of-file: the peer is gone (died, or destroyed its communicator
  // after its last call). What it left in the FIFO is still good; only waiting for more fails.
  bool peerClosed_ = false;
  // Each side keeps its own counter privately and a copy of the other side's, reloaded only when
  // the copy says "empty" or "full": the hot path then touches the peer's cache lines only to
  // publish and to poll, not to re-read what it already knows.
  uint64_t sendTail_ = 0;              // slots published to the peer (out_->tail's value)
  mutable uint64_t sendHeadSeen_ = 0;  // out_->head when last loaded
  uint64_t recvHead_ = 0;              // slots of the peer's released (in_->head's value)
  mutable uint64_t recvTailSeen_ = 0;  // in_->tail when last loaded
  // Sleeping needs to know whether the FIFO changed after progress() last looked at it. Only a
  // progress() that a prepareToSleep() asked for (watch_) records the counters, at its start:
  // loading them on every poll would pull the tail's line away from a producer that stores it
  // with each message, where a small message is seen by its stamp alone.
  bool watch_ = false;         // the next progress() records the counters
  bool watched_ = false;       // the last progress() recorded them and moved nothing
  uint64_t seenTail_ = 0;      // in_->tail at the start of that progress()
  uint64_t seenHead_ = 0;      // out_->head at the start of that progress()
  uint64_t seenStamp_ = 0;     // the stamp at ringRead_ then
  uint64_t seenRingHead_ = 0;  // out_->ringHead then
};

}  // namespace braid
