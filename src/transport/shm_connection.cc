// ShmConnection: slot FIFOs in shared memory, with a socket as doorbell and death detector.
#include "transport/shm_connection.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace braid {

namespace {

constexpr size_t kNameBytes = 96;

size_t segmentBytes(size_t slotBytes, int nslots) {
  return sizeof(ShmConnection::Fifo) + slotBytes * static_cast<size_t>(nslots);
}

}  // namespace

ShmSegment::~ShmSegment() {
  if (addr_ != nullptr) munmap(addr_, bytes_);
}

ShmSegment::ShmSegment(ShmSegment&& o) noexcept
    : addr_(o.addr_), bytes_(o.bytes_), fd_(std::move(o.fd_)) {
  o.addr_ = nullptr;
}

ShmSegment& ShmSegment::operator=(ShmSegment&& o) noexcept {
  if (this != &o) {
    if (addr_ != nullptr) munmap(addr_, bytes_);
    addr_ = o.addr_;
    bytes_ = o.bytes_;
    fd_ = std::move(o.fd_);
    o.addr_ = nullptr;
  }
  return *this;
}

namespace {

void* mapShared(int fd, size_t bytes) {
  void* addr = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) fail(braidSystemError, errnoText("mmap", errno));
  return addr;
}

}  // namespace

// Staging memory sits on the consumer's NUMA node: each side creates its incoming FIFO here and
// allocates every page itself (posix_fallocate, then the memset), so under the kernel's default
// local-allocation policy the pages come from the node the consumer runs on, which for a bound
// rank is the node it reads them from. The producer only maps the pages, and never first-touches.
ShmSegment ShmSegment::create(size_t bytes) {
  ShmSegment s;
  s.fd_ = Fd(memfd_create("braid-fifo", MFD_CLOEXEC));
  if (!s.fd_.valid()) fail(braidSystemError, errnoText("memfd_create", errno));
  int err = posix_fallocate(s.fd_.get(), 0, static_cast<off_t>(bytes));
  if (err != 0) {
    fail(braidSystemError, errnoText("posix_fallocate", err), " (", bytes,
         " bytes of shared memory; set BRAID_SHM_DISABLE=1 to use tcp instead)");
  }
  s.addr_ = mapShared(s.fd_.get(), bytes);
  s.bytes_ = bytes;
  std::memset(s.addr_, 0, bytes);
  return s;
}

ShmSegment ShmSegment::open(const std::string& path, size_t bytes) {
  Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) fail(braidSystemError, errnoText("open", errno), " (", path, ")");
  struct stat st {};
  if (fstat(fd.get(), &st) != 0 || static_cast<size_t>(st.st_size) != bytes) {
    fail(braidRemoteError, "shared segment ", path, " has the wrong size (settings differ?)");
  }
  ShmSegment s;
  s.addr_ = mapShared(fd.get(), bytes);
  s.bytes_ = bytes;
  return s;
}

std::string ShmSegment::path() const {
  return "/proc/" + std::to_string(getpid()) + "/fd/" + std::to_string(fd_.get());
}

ShmConnection::ShmConnection(int peer, Fd side, size_t slotBytes, int nslots,
                             const Deadline& deadline)
    : Connection(peer), side_(std::move(side)), slotBytes_(slotBytes), nslots_(nslots) {
  inSeg_ = ShmSegment::create(segmentBytes(slotBytes, nslots));
  char name[kNameBytes] = {};
  snprintf(name, sizeof(name), "%s", inSeg_.path().c_str());
  in_ = reinterpret_cast<Fifo*>(inSeg_.data());
  sendAll(side_.get(), name, sizeof(name), deadline,
          "shared-memory set-up with rank " + std::to_string(peer));
  setNonBlocking(side_.get(), true);
}

bool ShmConnection::advanceHandshake() {
  std::string what = "shared-memory set-up with rank " + std::to_string(peer());
  while (state_ != State::kReady) {
    char ack = 0;
    char* dst = state_ == State::kAwaitName ? peerName_ + peerNameBytes_ : &ack;
    size_t want = state_ == State::kAwaitName ? kNameBytes - peerNameBytes_ : 1;
    ssize_t n = ::recv(side_.get(), dst, want, MSG_DONTWAIT);
    if (n == 0) fail(braidRemoteError, what, ": rank ", peer(), " closed the connection");
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
      fail(braidRemoteError, what, ": ", errnoText("recv", errno));
    }
    if (state_ == State::kAwaitAck) {
      inSeg_.closeHandle();  // the peer has mapped it
      state_ = State::kReady;
      break;
    }
    peerNameBytes_ += static_cast<size_t>(n);
    if (peerNameBytes_ < kNameBytes) continue;
    peerName_[kNameBytes - 1] = '\0';
    if (std::strncmp(peerName_, "/proc/", 6) != 0) fail(braidRemoteError, what, ": bad path");
    outSeg_ = ShmSegment::open(peerName_, segmentBytes(slotBytes_, nslots_));
    out_ = reinterpret_cast<Fifo*>(outSeg_.data());
    char one = 1;
    sendAll(side_.get(), &one, 1, Deadline::after(1000), what);
    state_ = State::kAwaitAck;
  }
  return true;
}

void ShmConnection::ring(std::atomic<uint32_t>& sleeping) {
  if (sleeping.load(std::memory_order_seq_cst) == 0 || sleeping.exchange(0) == 0) return;
  char bell = 0;
  // A full socket buffer already holds a wake-up; a closed one is noticed by the reader.
  (void)::send(side_.get(), &bell, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

void ShmConnection::publish() {
  out_->tail.store(out_->tail.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  ring(out_->consumerSleeping);
}

void ShmConnection::release() {
  in_->head.store(in_->head.load(std::memory_order_relaxed) + 1, std::memory_order_seq_cst);
  ring(in_->producerSleeping);
}

bool ShmConnection::sendSlotFree() const {
  return ready() && sends_.empty() &&
         out_->tail.load(std::memory_order_relaxed) - out_->head.load(std::memory_order_acquire) <
             static_cast<uint64_t>(nslots_);
}

void* ShmConnection::sendSlot() {
  return slot(outSeg_.data(), out_->tail.load(std::memory_order_relaxed));
}

void ShmConnection::postSlot(size_t bytes) {
  if (bytes > 0) publish();
}

void ShmConnection::postSend(const void* data, size_t bytes) {
  if (bytes > 0) sends_.push_back(PendingSend{static_cast<const char*>(data), bytes, 0});
}

void ShmConnection::postRecv(void* data, size_t bytes) {
  recvs_.push_back(PendingRecv{static_cast<char*>(data), bytes, 0});
}

void ShmConnection::postRecvSlot(size_t bytes) {
  if (bytes > slotBytes_) {
    fail(braidInternalError, "staged receive of ", bytes, " bytes exceeds the slot size ",
         slotBytes_);
  }
  recvs_.push_back(PendingRecv{nullptr, bytes, 0});
}

bool ShmConnection::recvReady() const {
  if (recvs_.empty() || !ready()) return false;
  const PendingRecv& r = recvs_.front();
  if (r.data != nullptr || r.bytes == 0) return r.done == r.bytes;
  return in_->tail.load(std::memory_order_acquire) > in_->head.load(std::memory_order_relaxed);
}

const void* ShmConnection::recvData() const {
  const PendingRecv& r = recvs_.front();
  if (r.data != nullptr) return r.data;
  return slot(inSeg_.data(), in_->head.load(std::memory_order_relaxed));
}

void ShmConnection::recvDone() {
  const PendingRecv& r = recvs_.front();
  if (r.data == nullptr && r.bytes > 0) release();
  recvs_.pop_front();
}

bool ShmConnection::progress() {
  if (!ready() && !advanceHandshake()) return false;
  bool moved = false;
  while (!sends_.empty() &&
         out_->tail.load(std::memory_order_relaxed) - out_->head.load(std::memory_order_acquire) <
             static_cast<uint64_t>(nslots_)) {
    PendingSend& s = sends_.front();
    size_t piece = std::min(slotBytes_, s.bytes - s.done);
    std::memcpy(slot(outSeg_.data(), out_->tail.load(std::memory_order_relaxed)), s.data + s.done,
                piece);
    s.done += piece;
    publish();
    moved = true;
    if (s.done == s.bytes) sends_.pop_front();
  }
  // Copy into caller memory in posting order; a staged receive keeps its slot until consumed.
  for (PendingRecv& r : recvs_) {
    if (r.done == r.bytes && r.data != nullptr) continue;
    if (r.data == nullptr) break;
    while (r.done < r.bytes &&
           in_->tail.load(std::memory_order_acquire) > in_->head.load(std::memory_order_relaxed)) {
      size_t piece = std::min(slotBytes_, r.bytes - r.done);
      std::memcpy(r.data + r.done, slot(inSeg_.data(), in_->head.load(std::memory_order_relaxed)),
                  piece);
      r.done += piece;
      release();
      moved = true;
    }
    if (r.done < r.bytes) break;
  }
  if (armed_) {
    armed_ = false;
    in_->consumerSleeping.store(0);
    out_->producerSleeping.store(0);
    char bells[64];
    for (;;) {
      ssize_t n = ::recv(side_.get(), bells, sizeof(bells), MSG_DONTWAIT);
      if (n > 0) continue;
      if (n == 0) {
        peerClosed_ = true;
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      fail(braidRemoteError, "shared-memory connection to rank ", peer(), ": ",
           errnoText("recv", errno));
    }
  }
  if (peerClosed_ && !moved) {
    bool starved = !recvs_.empty() && !recvReady() &&
                   in_->tail.load(std::memory_order_acquire) == in_->head.load();
    bool stuck = !sends_.empty();
    if (starved || stuck) {
      fail(braidRemoteError, "rank ", peer(),
           " closed its shared-memory connection (it died, aborted or destroyed its "
           "communicator)");
    }
  }
  seenTail_ = in_->tail.load(std::memory_order_acquire);
  seenHead_ = out_->head.load(std::memory_order_acquire);
  return moved;
}

bool ShmConnection::changedSinceProgress() const {
  return in_->tail.load() != seenTail_ || out_->head.load() != seenHead_;
}

bool ShmConnection::prepareToSleep(std::vector<pollfd>* fds) {
  if (!ready()) {
    fds->push_back(pollfd{side_.get(), POLLIN, 0});
    return true;
  }
  if ((sends_.empty() && recvs_.empty()) || peerClosed_) return true;
  // Arm first, then look again: a peer that changed the FIFO before seeing the flag is seen here.
  if (!recvs_.empty()) in_->consumerSleeping.store(1);
  if (!sends_.empty()) out_->producerSleeping.store(1);
  armed_ = true;
  if (changedSinceProgress()) return false;
  fds->push_back(pollfd{side_.get(), POLLIN, 0});
  return true;
}

void ShmConnection::shutdown() {
  ::shutdown(side_.get(), SHUT_RDWR);
}

}  // namespace braid
