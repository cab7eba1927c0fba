// The Connection: what every algorithm talks to, and the only thing it knows of a transport.
//
// A connection to one peer carries two FIFOs of messages, one each way. A message is a run of
// bytes; both sides agree on every message's size, so no lengths travel with the data.
//  - Sending: fill a staging slot (sendSlot/postSlot) or hand over caller memory (postSend), which
//    must stay untouched until sendsDone(). Both are queued; progress() moves them.
//  - Receiving: post, in order, where each message goes: caller memory (postRecv, "copy-only"
//    steps land straight in the user's buffer) or a staging slot (postRecvSlot, for steps that
//    reduce the incoming data with local data). Then consume them in order: recvReady(),
//    recvData(), recvDone().
// Slots are bounded (nslots each way), which is the flow control: a sender waits for a free slot;
// a receiver's staged messages wait for free slots before their bytes are taken off the wire.
//
// Nothing here blocks. Callers wait through the communicator, which calls progress() on every
// active connection and polls their file descriptors, with a timeout and an abort path.
#pragma once

#include <poll.h>

#include <cstddef>
#include <vector>

namespace braid {

class Connection {
 public:
  explicit Connection(int peer) : peer_(peer) {}
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int peer() const { return peer_; }
  virtual const char* transportName() const = 0;
  virtual size_t slotBytes() const = 0;

  // --- sending ---
  virtual bool sendSlotFree() const = 0;
  // The next free slot; valid only when sendSlotFree().
  virtual void* sendSlot() = 0;
  // Queues the slot returned by sendSlot() holding `bytes` (<= slotBytes()).
  virtual void postSlot(size_t bytes) = 0;
  // Queues caller memory; it must stay valid and unchanged until sendsDone().
  virtual void postSend(const void* data, size_t bytes) = 0;
  // Like postSend, for a small message that a send usually follows at once (an operation's
  // header): the transport may hold it until that send or the next progress(), so both leave
  // together.
  virtual void postSendBatched(const void* data, size_t bytes) { postSend(data, bytes); }
  // Like postSend, for a message the peer receives into caller memory (postRecv), as both ends
  // know from the algorithm: a transport that can move bytes straight from this process's memory
  // into the peer's (shm's single copy) may do so here. A message the peer takes into a staging
  // slot goes through postSend, so the peer is not left making both copies.
  virtual void postSendDirect(const void* data, size_t bytes) { postSend(data, bytes); }
  virtual bool sendsDone() const = 0;

  // An operation of `bytes` starts (its size as the benchmarks report it: count x type size, times
  // the rank count for allgather, reduce-scatter and alltoall; for point-to-point, the largest
  // message): a transport may choose its protocol by it.
  virtual void beginOperation(size_t bytes) { (void)bytes; }

  // --- receiving ---
  virtual void postRecv(void* data, size_t bytes) = 0;
  virtual void postRecvSlot(size_t bytes) = 0;  // bytes <= slotBytes()
  // The oldest posted receive has all its bytes.
  virtual bool recvReady() const = 0;
  virtual const void* recvData() const = 0;
  virtual void recvDone() = 0;
  virtual bool recvsDone() const = 0;
  // Receives posted and not yet consumed.
  virtual size_t recvsPending() const = 0;

  // Moves what it can without blocking; true if any byte moved. Throws braidRemoteError when the
  // peer closed or reset the connection.
  virtual bool progress() = 0;
  // Before the caller sleeps in poll(): appends the descriptors (and events) whose readiness
  // means progress() has work. Returns false when there is work already, so sleeping would lose
  // a wake-up (a transport whose peer signals through memory checks here, after arming), or when
  // it needs one more progress() first to be able to tell.
  virtual bool prepareToSleep(std::vector<pollfd>* fds) = 0;
  // Stops all traffic now (the communicator failed): the peer sees the connection close.
  virtual void shutdown() = 0;
  // The operation is complete on this rank (every send done, every receive consumed): caller
  // memory it was handed may be freed or reused from now on, so nothing derived from its address
  // may be kept (the ib transport's registrations).
  virtual void operationDone() {}

 private:
  int peer_;
};

}  // namespace braid
