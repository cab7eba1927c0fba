// IbConnection's set-up half: memory and its registration, the queue pair, and the handshake over
// the side channel that connects it (see ib_connection.h). The data path is in ib_connection.cc.
#include <fcntl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>

#include "core/error.h"
#include "core/log.h"
#include "transport/ib/verbs/ib_connection.h"

namespace braid {

namespace {

constexpr uint32_t kEndpointMagic = 0x42494232;  // "BIB2"

// Page-aligned, zeroed memory for rings and staging slots.
std::unique_ptr<char, void (*)(void*)> allocatePages(size_t bytes) {
  void* p = nullptr;
  if (posix_memalign(&p, 4096, bytes) != 0) {
    fail(braidSystemError, "ib: cannot allocate ", bytes, " bytes of slot memory");
  }
  std::memset(p, 0, bytes);
  return {static_cast<char*>(p), std::free};
}

}  // namespace

ibv_mr* IbConnection::registerMemory(void* addr, size_t bytes, int access) const {
  ibv_mr* mr = ibv_reg_mr(port_->pd(), addr, bytes, access);
  if (mr == nullptr) {
    fail(braidSystemError, "ib connection to rank ", peer(), ": ", errnoText("ibv_reg_mr", errno),
         " (", bytes, " bytes; is the locked-memory limit, ulimit -l, too low?)");
  }
  return mr;
}

IbConnection::IbConnection(int peer, std::shared_ptr<IbPort> port, Fd side, size_t slotBytes,
                           int nslots, const Deadline& deadline)
    : Connection(peer),
      port_(std::move(port)),
      side_(std::move(side)),
      slotBytes_(slotBytes),
      nslots_(nslots),
      maxSendWr_(2 * static_cast<uint32_t>(nslots + kAdverts) + 2),
      recvDepth_(2 * static_cast<uint32_t>(nslots + kAdverts) + 2),
      ring_(allocatePages(slotBytes * static_cast<size_t>(nslots))),
      stage_(allocatePages(slotBytes * static_cast<size_t>(nslots))),
      advertsIn_(allocatePages(sizeof(Advert) * kAdverts)),
      advertsOut_(allocatePages(sizeof(Advert) * kAdverts)),
      registrations_(makeCache(0)),
      recvRegistrations_(makeCache(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)),
      psn_(std::random_device{}() & 0xffffff),
      credits_(nslots),
      arrivedBytes_(static_cast<size_t>(nslots), 0) {
  size_t ringBytes = slotBytes * static_cast<size_t>(nslots);
  int remoteWrite = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
  ringMr_.reset(registerMemory(ring_.get(), ringBytes, remoteWrite));
  stageMr_.reset(registerMemory(stage_.get(), ringBytes, 0));
  advertsInMr_.reset(registerMemory(advertsIn_.get(), sizeof(Advert) * kAdverts, remoteWrite));
  advertsOutMr_.reset(registerMemory(advertsOut_.get(), sizeof(Advert) * kAdverts, 0));
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

RegistrationCache IbConnection::makeCache(int access) {
  return RegistrationCache(
      [this, access](void* begin, size_t bytes) {
        MemoryRegion r;
        ibv_mr* mr = registerMemory(begin, bytes, access);
        r.lkey = mr->lkey;
        r.rkey = mr->rkey;
        r.handle = mr;
        return r;
      },
      [](const MemoryRegion& r) { ibv_dereg_mr(static_cast<ibv_mr*>(r.handle)); });
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
  e.advertAddr = reinterpret_cast<uintptr_t>(advertsIn_.get());
  e.advertRkey = advertsInMr_->rkey;
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

}  // namespace braid
