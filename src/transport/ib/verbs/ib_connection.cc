// IbConnection: queue pair set-up over the side channel, then slot writes, credits and completions.
#include "transport/ib/verbs/ib_connection.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "core/error.h"
#include "core/log.h"

namespace braid {

namespace {

constexpr uint32_t kEndpointMagic = 0x42494231;  // "BIB1"
constexpr int kPollBatch = 16;

// wr_id: the kind of request in the high half, a staging slot (or -1) in the low half.
enum class WorkKind : uint64_t { kData = 1, kCredit = 2, kArrival = 3 };

uint64_t workId(WorkKind kind, int stage) {
  return (static_cast<uint64_t>(kind) << 32) | static_cast<uint32_t>(stage);
}
WorkKind kindOf(uint64_t id) {
  return static_cast<WorkKind>(id >> 32);
}
int stageOf(uint64_t id) {
  return static_cast<int32_t>(static_cast<uint32_t>(id));
}

// Page-aligned memory for the ring and the staging slots.
std::unique_ptr<char, void (*)(void*)> allocatePages(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, bytes) != 0) {
    fail(braidSystemError, "ib: cannot allocate ", bytes, " bytes of slot memory");
  }
  std::memset(p, 0, bytes);
  return {static_cast<char*>(p), std::free};
}

ibv_mr* registerMemory(ibv_pd* pd, void* addr, size_t bytes, int access, int peer) {
  ibv_mr* mr = ibv_reg_mr(pd, addr, bytes, access);
  if (mr == nullptr) {
    fail(braidSystemError, "ib connection to rank ", peer, ": ", errnoText("ibv_reg_mr", errno),
         " (", bytes, " bytes; is the locked-memory limit, ulimit -l, too low?)");
  }
  return mr;
}

}  // namespace

IbConnection::IbConnection(int peer, std::shared_ptr<IbPort> port, Fd side, size_t slotBytes,
                           int nslots, const Deadline& deadline)
    : Connection(peer),
      port_(std::move(port)),
      side_(std::move(side)),
      slotBytes_(slotBytes),
      nslots_(nslots),
      maxSendWr_(2 * static_cast<uint32_t>(nslots) + 2),
      recvDepth_(2 * static_cast<uint32_t>(nslots) + 2),
      ring_(allocatePages(slotBytes * static_cast<size_t>(nslots))),
      stage_(allocatePages(slotBytes * static_cast<size_t>(nslots))),
      registrations_(
          [this](void* begin, size_t bytes) {
            MemoryRegion r;
            ibv_mr* mr = registerMemory(port_->pd(), begin, bytes, 0, this->peer());
            r.lkey = mr->lkey;
            r.handle = mr;
            return r;
          },
          [](const MemoryRegion& r) { ibv_dereg_mr(static_cast<ibv_mr*>(r.handle)); }),
      psn_(std::random_device{}() & 0xffffff),
      credits_(nslots),
      arrivedBytes_(static_cast<size_t>(nslots), 0) {
  size_t ringBytes = slotBytes * static_cast<size_t>(nslots);
  ringMr_.reset(registerMemory(port_->pd(), ring_.get(), ringBytes,
                               IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, peer));
  stageMr_.reset(registerMemory(port_->pd(), stage_.get(), ringBytes, 0, peer));
  for (int i = 0; i < nslots; ++i)
    freeStage_.push_back(i);
  createQueuePair();
  moveToInit();
  for (uint32_t i = 0; i < recvDepth_; ++i)
    postReceive();
  Endpoint mine = localEndpoint();
  sendAll(side_.get(), &mine, sizeof(mine), deadline,
          "ib set-up with rank " + std::to_string(peer));
  setNonBlocking(side_.get(), true);
}

IbConnection::~IbConnection() {
  if (unackedEvents_ > 0) ibv_ack_cq_events(cq_.get(), unackedEvents_);
}

void IbConnection::createQueuePair() {
  channel_.reset(ibv_create_comp_channel(port_->context()));
  if (!channel_) fail(braidSystemError, errnoText("ibv_create_comp_channel", errno));
  int flags = fcntl(channel_->fd, F_GETFL);
  if (flags < 0 || fcntl(channel_->fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    fail(braidSystemError, errnoText("fcntl on the completion channel", errno));
  }
  int depth = static_cast<int>(maxSendWr_ + recvDepth_);
  cq_.reset(ibv_create_cq(port_->context(), depth, nullptr, channel_.get(), 0));
  if (!cq_) fail(braidSystemError, errnoText("ibv_create_cq", errno));
  ibv_qp_init_attr init{};
  init.send_cq = cq_.get();
  init.recv_cq = cq_.get();
  init.qp_type = IBV_QPT_RC;
  init.cap.max_send_wr = maxSendWr_;
  init.cap.max_recv_wr = recvDepth_;
  init.cap.max_send_sge = 1;
  init.cap.max_recv_sge = 1;
  qp_.reset(ibv_create_qp(port_->pd(), &init));
  if (!qp_) fail(braidSystemError, errnoText("ibv_create_qp", errno));
}

void IbConnection::moveToInit() {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_INIT;
  a.pkey_index = 0;
  a.port_num = static_cast<uint8_t>(port_->port());
  a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
  int rc = ibv_modify_qp(qp_.get(), &a,
                         IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
  if (rc != 0) fail(braidSystemError, errnoText("ibv_modify_qp to INIT", rc));
}

IbConnection::Endpoint IbConnection::localEndpoint() const {
  Endpoint e{};
  e.magic = kEndpointMagic;
  e.qpn = qp_->qp_num;
  e.psn = psn_;
  e.rkey = ringMr_->rkey;
  e.ringAddr = reinterpret_cast<uintptr_t>(ring_.get());
  e.slotBytes = slotBytes_;
  e.nslots = static_cast<uint32_t>(nslots_);
  e.lid = port_->lid();
  e.mtu = static_cast<uint8_t>(port_->activeMtu());
  std::memcpy(e.gid, port_->gid().raw, sizeof(e.gid));
  return e;
}

void IbConnection::moveToReadyToSend(const Endpoint& remote) {
  ibv_qp_attr a{};
  a.qp_state = IBV_QPS_RTR;
  a.path_mtu = std::min(port_->activeMtu(), static_cast<ibv_mtu>(remote.mtu));
  a.dest_qp_num = remote.qpn;
  a.rq_psn = remote.psn;
  a.max_dest_rd_atomic = 1;
  a.min_rnr_timer = 12;
  a.ah_attr.port_num = static_cast<uint8_t>(port_->port());
  if (port_->roce()) {
    a.ah_attr.is_global = 1;
    std::memcpy(a.ah_attr.grh.dgid.raw, remote.gid, sizeof(remote.gid));
    a.ah_attr.grh.sgid_index = static_cast<uint8_t>(port_->gidIndex());
    a.ah_attr.grh.hop_limit = 64;
  } else {
    a.ah_attr.dlid = remote.lid;
  }
  int rc = ibv_modify_qp(qp_.get(), &a,
                         IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                             IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
  if (rc != 0) fail(braidSystemError, errnoText("ibv_modify_qp to RTR", rc));
  ibv_qp_attr s{};
  s.qp_state = IBV_QPS_RTS;
  s.timeout = static_cast<uint8_t>(port_->qpSettings().timeout);
  s.retry_cnt = static_cast<uint8_t>(port_->qpSettings().retryCount);
  s.rnr_retry = 7;  // 7: retry forever; a receiver short of receive requests is only slow
  s.sq_psn = psn_;
  s.max_rd_atomic = 1;
  rc = ibv_modify_qp(qp_.get(), &s,
                     IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                         IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
  if (rc != 0) fail(braidSystemError, errnoText("ibv_modify_qp to RTS", rc));
  BRAID_INFO(kNet, "ib connection to rank %d ready: QP 0x%x -> 0x%x, MTU %d", peer(), qp_->qp_num,
             remote.qpn, 128 << a.path_mtu);
}

bool IbConnection::advanceHandshake() {
  std::string what = "ib set-up with rank " + std::to_string(peer());
  while (state_ != State::kReady) {
    char ack = 0;
    bool endpoint = state_ == State::kAwaitEndpoint;
    char* dst = endpoint ? reinterpret_cast<char*>(&peerEndpoint_) + peerEndpointBytes_ : &ack;
    size_t want = endpoint ? sizeof(Endpoint) - peerEndpointBytes_ : 1;
    ssize_t n = ::recv(side_.get(), dst, want, MSG_DONTWAIT);
    if (n == 0) fail(braidRemoteError, what, ": rank ", peer(), " closed the connection");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
      fail(braidRemoteError, what, ": ", errnoText("recv", errno));
    }
    if (!endpoint) {
      state_ = State::kReady;
      break;
    }
    peerEndpointBytes_ += static_cast<size_t>(n);
    if (peerEndpointBytes_ < sizeof(Endpoint)) continue;
    const Endpoint& p = peerEndpoint_;
    if (p.magic != kEndpointMagic || p.mtu < IBV_MTU_256 || p.mtu > IBV_MTU_4096) {
      fail(braidRemoteError, what, ": malformed endpoint information");
    }
    if (p.slotBytes != slotBytes_ || p.nslots != static_cast<uint32_t>(nslots_)) {
      fail(braidInvalidUsage, what, ": its slots are ", p.nslots, " x ", p.slotBytes,
           " bytes, this rank's ", nslots_, " x ", slotBytes_,
           " (BRAID_CHUNK_SIZE and BRAID_NSLOTS must agree)");
    }
    moveToReadyToSend(p);
    char one = 1;
    sendAll(side_.get(), &one, 1, Deadline::after(1000), what);
    state_ = State::kAwaitAck;
  }
  return true;
}

void IbConnection::postReceive() {
  ibv_recv_wr wr{};
  wr.wr_id = workId(WorkKind::kArrival, -1);
  ibv_recv_wr* bad = nullptr;
  int rc = ibv_post_recv(qp_.get(), &wr, &bad);
  if (rc != 0) fail(braidSystemError, "ib connection to rank ", peer(), ": ibv_post_recv: ", rc);
}

void IbConnection::postWrite(const char* from, size_t bytes, uint32_t lkey, int stage) {
  ibv_sge sge{reinterpret_cast<uintptr_t>(from), static_cast<uint32_t>(bytes), lkey};
  ibv_send_wr wr{};
  wr.wr_id = workId(WorkKind::kData, stage);
  wr.sg_list = &sge;
  wr.num_sge = 1;
  wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
  wr.send_flags = IBV_SEND_SIGNALED;
  wr.imm_data = htonl(static_cast<uint32_t>(bytes));
  uint64_t slot = writesPosted_ % static_cast<uint64_t>(nslots_);
  wr.wr.rdma.remote_addr = peerEndpoint_.ringAddr + slot * slotBytes_;
  wr.wr.rdma.rkey = peerEndpoint_.rkey;
  ibv_send_wr* bad = nullptr;
  int rc = ibv_post_send(qp_.get(), &wr, &bad);
  if (rc != 0) {
    fail(braidRemoteError, "ib connection to rank ", peer(), ": ", errnoText("ibv_post_send", rc));
  }
  ++writesPosted_;
  --credits_;
  ++dataInFlight_;
}

void IbConnection::postSlot(size_t bytes) {
  int stage = freeStage_.back();
  if (bytes == 0) return;  // empty messages do not travel; the receiver expects none
  freeStage_.pop_back();
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
  while (ready() && !sends_.empty() && credits_ > 0 && !sendQueueFull()) {
    PendingSend& s = sends_.front();
    if (s.data == nullptr) {
      postWrite(stageSlot(s.stage), s.bytes, stageMr_->lkey, s.stage);
      sends_.pop_front();
      moved = true;
      continue;
    }
    size_t piece = std::min(slotBytes_, s.bytes - s.done);
    if (s.bytes >= kZeroCopyMinBytes) {
      MemoryRegion r = registrations_.cover(s.data, s.bytes);
      postWrite(s.data + s.done, piece, r.lkey, -1);
    } else {
      if (freeStage_.empty()) break;
      int stage = freeStage_.back();
      freeStage_.pop_back();
      std::memcpy(stageSlot(stage), s.data + s.done, piece);
      postWrite(stageSlot(stage), piece, stageMr_->lkey, stage);
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
  ++creditsInFlight_;
  return true;
}

void IbConnection::postRecv(void* data, size_t bytes) {
  recvs_.push_back(PendingRecv{static_cast<char*>(data), bytes, 0});
}

void IbConnection::postRecvSlot(size_t bytes) {
  if (bytes > slotBytes_) {
    fail(braidInternalError, "staged receive of ", bytes, " bytes exceeds the slot size ",
         slotBytes_);
  }
  recvs_.push_back(PendingRecv{nullptr, bytes, 0});
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
    if (r.data == nullptr) break;  // a staged receive keeps its slot until consumed
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

void IbConnection::onArrival(const ibv_wc& wc) {
  uint32_t value = ntohl(wc.imm_data);
  if (wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
    if (value > slotBytes_ || arrived_ - consumed_ >= static_cast<uint64_t>(nslots_)) {
      fail(braidRemoteError, "rank ", peer(), " wrote ", value, " bytes past its credits");
    }
    arrivedBytes_[arrived_ % static_cast<uint64_t>(nslots_)] = value;
    ++arrived_;
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
  if (wc.status != IBV_WC_SUCCESS) {
    // Flushes follow the first failure; that one says what happened.
    if (broken_.empty() || wc.status != IBV_WC_WR_FLUSH_ERR) {
      if (broken_.empty()) broken_ = completionError(wc);
    }
    if (kind == WorkKind::kData) fail(braidRemoteError, broken_);
    if (kind == WorkKind::kCredit) --creditsInFlight_;
    return;
  }
  if (kind == WorkKind::kArrival) {
    onArrival(wc);
  } else if (kind == WorkKind::kCredit) {
    --creditsInFlight_;
  } else {
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
