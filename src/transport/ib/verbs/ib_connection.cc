// IbConnection's data path: slot writes, direct writes into advertised buffers, credits,
// completions and failure reports (see ib_connection.h). The set-up is in ib_connection_setup.cc.
#include "transport/ib/verbs/ib_connection.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/error.h"
#include "core/log.h"

namespace braid {

namespace {

constexpr int kPollBatch = 16;

// Writes larger than this are cut (a work request's length is 32 bits).
constexpr size_t kMaxWriteBytes = size_t{1} << 30;

// wr_id: the kind of request in the high half, a staging slot (or -1) in the low half.
enum class WorkKind : uint64_t { kData = 1, kCredit = 2, kArrival = 3, kAdvert = 4 };

// An RDMA write's immediate: its kind in the top two bits, a value below them (for a slot write,
// its byte count less one: at most a slot, and BRAID_CHUNK_SIZE is at most 1 GiB).
enum class ImmKind : uint32_t { kSlot = 0, kAdvert = 1, kDirect = 2 };
constexpr int kImmKindShift = 30;
constexpr uint32_t kImmValueMask = (1u << kImmKindShift) - 1;

uint32_t immediate(ImmKind kind, uint32_t value) {
  return htonl((static_cast<uint32_t>(kind) << kImmKindShift) | value);
}

uint64_t workId(WorkKind kind, int stage) {
  return (static_cast<uint64_t>(kind) << 32) | static_cast<uint32_t>(stage);
}
WorkKind kindOf(uint64_t id) {
  return static_cast<WorkKind>(id >> 32);
}
int stageOf(uint64_t id) {
  return static_cast<int32_t>(static_cast<uint32_t>(id));
}

}  // namespace

void IbConnection::postReceive() {
  ibv_recv_wr wr{};
  wr.wr_id = workId(WorkKind::kArrival, -1);
  ibv_recv_wr* bad = nullptr;
  int rc = ibv_post_recv(qp_.get(), &wr, &bad);
  if (rc != 0) fail(braidSystemError, "ib connection to rank ", peer(), ": ibv_post_recv: ", rc);
}

void IbConnection::postWrite(const char* from, size_t bytes, uint32_t lkey, uint64_t remote,
                             uint32_t rkey, uint64_t id, bool withImm, uint32_t imm) {
  ibv_sge sge{reinterpret_cast<uintptr_t>(from), static_cast<uint32_t>(bytes), lkey};
  ibv_send_wr wr{};
  wr.wr_id = id;
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.opcode = withImm ? IBV_WR_RDMA_WRITE_WITH_IMM : IBV_WR_RDMA_WRITE;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.imm_data = imm;
  wr.wr.rdma.remote_addr = remote;
  wr.wr.rdma.rkey = rkey;
  ibv_send_wr* bad = nullptr;
  int rc = ibv_post_send(qp_.get(), &wr, &bad);
  if (rc != 0) {
    fail(braidRemoteError, "ib connection to rank ", peer(), ": ", errnoText("ibv_post_send", rc));
  }
  ++sendsInFlight_;
}

void IbConnection::postSlotWrite(const char* from, size_t bytes, uint32_t lkey, int stage) {
  uint64_t slot = writesPosted_ % static_cast<uint64_t>(nslots_);
  postWrite(from, bytes, lkey, peerEndpoint_.ringAddr + slot * slotBytes_, peerEndpoint_.rkey,
            workId(WorkKind::kData, stage), true,
            immediate(ImmKind::kSlot, static_cast<uint32_t>(bytes - 1)));
  ++writesPosted_;
  --credits_;
  ++dataInFlight_;
}

bool IbConnection::postDirect() {
  if (advertsArrived_ == advertsUsed_) return false;
  PendingSend& s = sends_.front();
  Advert a{};
  std::memcpy(&a, advertsIn_.get() + (advertsUsed_ % kAdverts) * sizeof(Advert), sizeof(a));
  if (a.bytes != s.bytes) {
    fail(braidInvalidUsage, "rank ", peer(), " expects ", a.bytes, " bytes where this rank sends ",
         s.bytes, " (the ranks' calls differ)");
  }
  MemoryRegion r = registrations_.cover(s.data, s.bytes);
  size_t piece = std::min(kMaxWriteBytes, s.bytes - s.done);
  bool last = s.done + piece == s.bytes;
  postWrite(s.data + s.done, piece, r.lkey, a.addr + s.done, a.rkey, workId(WorkKind::kData, -1),
            last, immediate(ImmKind::kDirect, 0));
  ++dataInFlight_;
  s.done += piece;
  if (last) ++advertsUsed_;
  return true;
}

// The slot handed out is taken off the free list at once: the caller fills it while progress()
// runs (on this and other connections), which may complete writes (pushing freed slots) or copy
// a caller's send through a free slot; neither may change or reuse the slot postSlot() sends.
void* IbConnection::sendSlot() {
  if (handedOut_ < 0) {
    handedOut_ = freeStage_.back();
    freeStage_.pop_back();
  }
  return stageSlot(handedOut_);
}

void IbConnection::postSlot(size_t bytes) {
  if (handedOut_ < 0) sendSlot();
  int stage = handedOut_;
  handedOut_ = -1;
  if (bytes == 0) {  // empty messages do not travel; the receiver expects none
    freeStage_.push_back(stage);
    return;
  }
  sends_.push_back(PendingSend{nullptr, bytes, 0, stage});
  postWrites();
}

void IbConnection::postSend(const void* data, size_t bytes) {
  if (bytes == 0) return;
  sends_.push_back(PendingSend{static_cast<const char*>(data), bytes, 0, -1});
  ++callerSends_;
  postWrites();
}

bool IbConnection::postWrites() {
  bool moved = false;
  while (ready() && !sends_.empty() && !sendQueueFull()) {
    PendingSend& s = sends_.front();
    if (s.data != nullptr && isDirect(s.bytes)) {
      if (!postDirect()) break;
      moved = true;
      if (s.done == s.bytes) {
        sends_.pop_front();
        --callerSends_;
      }
      continue;
    }
    if (credits_ == 0) break;
    if (s.data == nullptr) {
      postSlotWrite(stageSlot(s.stage), s.bytes, stageMr_->lkey, s.stage);
      sends_.pop_front();
      moved = true;
      continue;
    }
    size_t piece = std::min(slotBytes_, s.bytes - s.done);
    if (s.bytes >= kZeroCopyMinBytes) {
      MemoryRegion r = registrations_.cover(s.data, s.bytes);
      postSlotWrite(s.data + s.done, piece, r.lkey, -1);
    } else {
      if (freeStage_.empty()) break;
      int stage = freeStage_.back();
      freeStage_.pop_back();
      std::memcpy(stageSlot(stage), s.data + s.done, piece);
      postSlotWrite(stageSlot(stage), piece, stageMr_->lkey, stage);
    }
    moved = true;
    s.done += piece;
    if (s.done == s.bytes) {
      sends_.pop_front();
      --callerSends_;
    }
  }
  return moved;
}

bool IbConnection::returnCredits() {
  if (!ready() || creditsToReturn_ == 0 || sendQueueFull()) return false;
  ibv_send_wr wr{};
  wr.wr_id = workId(WorkKind::kCredit, -1);
  wr.opcode = IBV_WR_SEND_WITH_IMM;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.imm_data = htonl(static_cast<uint32_t>(creditsToReturn_));
  ibv_send_wr* bad = nullptr;
  int rc = ibv_post_send(qp_.get(), &wr, &bad);
  if (rc != 0) {
    fail(braidRemoteError, "ib connection to rank ", peer(), ": ", errnoText("ibv_post_send", rc));
  }
  creditsToReturn_ = 0;
  ++sendsInFlight_;
  return true;
}

bool IbConnection::sendAdverts() {
  bool moved = false;
  // An advert's entry, here and in the peer's ring, is reused once its message has landed and its
  // own write has completed.
  uint64_t reusable = std::min(directsLanded_, advertsCompleted_);
  while (ready() && !unsentAdverts_.empty() && advertsSent_ - reusable < kAdverts &&
         !sendQueueFull()) {
    size_t slot = advertsSent_ % kAdverts;
    char* out = advertsOut_.get() + slot * sizeof(Advert);
    std::memcpy(out, &unsentAdverts_.front(), sizeof(Advert));
    postWrite(out, sizeof(Advert), advertsOutMr_->lkey,
              peerEndpoint_.advertAddr + slot * sizeof(Advert), peerEndpoint_.advertRkey,
              workId(WorkKind::kAdvert, -1), true, immediate(ImmKind::kAdvert, 0));
    unsentAdverts_.pop_front();
    ++advertsSent_;
    moved = true;
  }
  return moved;
}

void IbConnection::postRecv(void* data, size_t bytes) {
  bool direct = isDirect(bytes);
  recvs_.push_back(PendingRecv{static_cast<char*>(data), bytes, 0, direct});
  if (!direct) return;
  MemoryRegion r = recvRegistrations_.cover(data, bytes);
  unsentAdverts_.push_back(Advert{reinterpret_cast<uintptr_t>(data), bytes, r.rkey, 0});
  sendAdverts();
}

void IbConnection::operationDone() {
  registrations_.releaseAll();
  recvRegistrations_.releaseAll();
}

void IbConnection::postRecvSlot(size_t bytes) {
  if (bytes > slotBytes_) {
    fail(braidInternalError, "staged receive of ", bytes, " bytes exceeds the slot size ",
         slotBytes_);
  }
  recvs_.push_back(PendingRecv{nullptr, bytes, 0, false});
}

bool IbConnection::recvReady() const {
  if (recvs_.empty()) return false;
  const PendingRecv& r = recvs_.front();
  if (r.data != nullptr || r.bytes == 0) return r.done == r.bytes;
  return arrived_ > consumed_;
}

const void* IbConnection::recvData() const {
  const PendingRecv& r = recvs_.front();
  if (r.data != nullptr) return r.data;
  checkArrivedBytes(r.bytes);
  return ringSlot(consumed_);
}

void IbConnection::recvDone() {
  const PendingRecv& r = recvs_.front();
  if (r.data == nullptr && r.bytes > 0) releaseSlot();
  recvs_.pop_front();
}

void IbConnection::checkArrivedBytes(size_t expected) const {
  uint32_t got = arrivedBytes_[consumed_ % static_cast<uint64_t>(nslots_)];
  if (got != expected) {
    fail(braidInvalidUsage, "rank ", peer(), " sent ", got, " bytes where this rank expected ",
         expected, " (the ranks' calls differ)");
  }
}

void IbConnection::releaseSlot() {
  ++consumed_;
  ++creditsToReturn_;
}

bool IbConnection::copyIntoCallerMemory() {
  bool moved = false;
  for (PendingRecv& r : recvs_) {
    if (r.data != nullptr && r.done == r.bytes) continue;
    // A staged receive keeps its slot until consumed; a direct one is written in place by the
    // peer, and nothing after it can have arrived before it.
    if (r.data == nullptr || r.direct) break;
    while (r.done < r.bytes && arrived_ > consumed_) {
      size_t piece = std::min(slotBytes_, r.bytes - r.done);
      checkArrivedBytes(piece);
      std::memcpy(r.data + r.done, ringSlot(consumed_), piece);
      r.done += piece;
      releaseSlot();
      moved = true;
    }
    if (r.done < r.bytes) break;
  }
  return moved;
}

std::string IbConnection::completionError(const ibv_wc& wc) const {
  return "ib connection to rank " + std::to_string(peer()) +
         " failed: " + ibv_wc_status_str(wc.status) + " (status " + std::to_string(wc.status) +
         ", vendor error " + std::to_string(wc.vendor_err) + ", " + port_->deviceName() + " port " +
         std::to_string(port_->port()) + ")";
}

void IbConnection::onDirectLanded() {
  for (PendingRecv& r : recvs_) {
    if (r.direct && r.done < r.bytes) {
      r.done = r.bytes;
      ++directsLanded_;
      return;
    }
  }
  fail(braidRemoteError, "rank ", peer(), " completed a direct write nothing was waiting for");
}

void IbConnection::onArrival(const ibv_wc& wc) {
  uint32_t raw = ntohl(wc.imm_data);
  auto kind = static_cast<ImmKind>(raw >> kImmKindShift);
  uint32_t value = raw & kImmValueMask;
  if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM && kind == ImmKind::kSlot) {
    if (value >= slotBytes_ || arrived_ - consumed_ >= static_cast<uint64_t>(nslots_)) {
      fail(braidRemoteError, "rank ", peer(), " wrote ", value + 1, " bytes past its credits");
    }
    arrivedBytes_[arrived_ % static_cast<uint64_t>(nslots_)] = value + 1;
    ++arrived_;
  } else if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM && kind == ImmKind::kAdvert) {
    if (advertsArrived_ - advertsUsed_ >= kAdverts) {
      fail(braidRemoteError, "rank ", peer(), " advertised more buffers than it may");
    }
    ++advertsArrived_;
  } else if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM && kind == ImmKind::kDirect) {
    onDirectLanded();
  } else if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
    fail(braidRemoteError, "rank ", peer(), " sent an unknown immediate ", raw);
  } else {
    if (value > static_cast<uint32_t>(nslots_ - credits_)) {
      fail(braidRemoteError, "rank ", peer(), " returned ", value, " credits it did not have");
    }
    credits_ += static_cast<int>(value);
  }
  postReceive();
}

void IbConnection::onCompletion(const ibv_wc& wc) {
  WorkKind kind = kindOf(wc.wr_id);
  if (kind != WorkKind::kArrival) --sendsInFlight_;
  if (wc.status != IBV_WC_SUCCESS) {
    // The first failure says what happened; flushes of everything queued behind it follow.
    if (broken_.empty()) broken_ = completionError(wc);
    if (kind == WorkKind::kData || kind == WorkKind::kAdvert) fail(braidRemoteError, broken_);
    return;
  }
  if (kind == WorkKind::kArrival) {
    onArrival(wc);
  } else if (kind == WorkKind::kAdvert) {
    ++advertsCompleted_;
  } else if (kind == WorkKind::kData) {
    --dataInFlight_;
    if (stageOf(wc.wr_id) >= 0) freeStage_.push_back(stageOf(wc.wr_id));
  }
}

bool IbConnection::pollCompletions() {
  bool moved = !stashed_.empty();
  for (const ibv_wc& wc : stashed_)
    onCompletion(wc);
  stashed_.clear();
  ibv_wc wcs[kPollBatch];
  for (;;) {
    int n = ibv_poll_cq(cq_.get(), kPollBatch, wcs);
    if (n < 0) fail(braidSystemError, "ib connection to rank ", peer(), ": ibv_poll_cq failed");
    for (int i = 0; i < n; ++i)
      onCompletion(wcs[i]);
    moved |= n > 0;
    if (n < kPollBatch) return moved;
  }
}

void IbConnection::consumeChannelEvents() {
  ibv_cq* cq = nullptr;
  void* context = nullptr;
  while (ibv_get_cq_event(channel_.get(), &cq, &context) == 0)
    ++unackedEvents_;
  if (unackedEvents_ > 0) {
    ibv_ack_cq_events(cq_.get(), unackedEvents_);
    unackedEvents_ = 0;
  }
}

void IbConnection::watchSideChannel() {
  char bytes[64];
  for (;;) {
    ssize_t n = ::recv(side_.get(), bytes, sizeof(bytes), MSG_DONTWAIT);
    if (n > 0) continue;  // nothing is sent after the handshake; ignore strays
    if (n == 0) peerClosed_ = true;
    if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    peerClosed_ = true;  // reset: the peer is gone as surely as with end-of-file
    return;
  }
}

void IbConnection::failIfStranded() {
  if (!peerClosed_ && broken_.empty()) return;
  bool starved = !recvs_.empty() && !recvReady() && arrived_ == consumed_;
  bool stuck = !sends_.empty() || dataInFlight_ > 0;
  if (!starved && !stuck) return;
  if (!broken_.empty()) fail(braidRemoteError, broken_);
  fail(braidRemoteError, "rank ", peer(),
       " closed its ib connection (it died, aborted or destroyed its communicator)");
}

bool IbConnection::progress() {
  if (!ready() && !advanceHandshake()) return false;
  if (armed_) {
    armed_ = false;
    consumeChannelEvents();
    watchSideChannel();
  }
  bool moved = pollCompletions();
  moved |= copyIntoCallerMemory();
  moved |= postWrites();
  moved |= sendAdverts();
  moved |= returnCredits();
  if (!moved) failIfStranded();
  return moved;
}

bool IbConnection::prepareToSleep(std::vector<pollfd>* fds) {
  if (!ready()) {
    fds->push_back(pollfd{side_.get(), POLLIN, 0});
    return true;
  }
  bool waiting = !sends_.empty() || !recvs_.empty() || dataInFlight_ > 0 || creditsToReturn_ > 0;
  if (!waiting) return true;
  if (ibv_req_notify_cq(cq_.get(), 0) != 0) {
    return false;  // cannot arm: stay awake and poll
  }
  armed_ = true;
  // A completion that came before arming raises no event: look once more.
  ibv_wc wcs[kPollBatch];
  int n = ibv_poll_cq(cq_.get(), kPollBatch, wcs);
  if (n != 0) {
    stashed_.insert(stashed_.end(), wcs, wcs + std::max(n, 0));
    return false;
  }
  fds->push_back(pollfd{channel_->fd, POLLIN, 0});
  if (!peerClosed_) fds->push_back(pollfd{side_.get(), POLLIN, 0});
  return true;
}

void IbConnection::shutdown() {
  ::shutdown(side_.get(), SHUT_RDWR);
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_ERR;
  ibv_modify_qp(qp_.get(), &a, IBV_QP_STATE);
  registrations_.releaseAll();
}

std::unique_ptr<Connection> makeIbConnection(int peer, std::shared_ptr<IbPort> port, Fd side,
                                             size_t slotBytes, int nslots,
                                             const Deadline& deadline) {
  return std::make_unique<IbConnection>(peer, std::move(port), std::move(side), slotBytes, nslots,
                                        deadline);
}

}  // namespace braid
