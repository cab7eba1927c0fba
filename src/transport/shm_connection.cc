// ShmConnection: slot FIFOs in shared memory, with a socket as doorbell and death detector.
#include "transport/shm_connection.h"

#include <fcntl.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace braid {

namespace {

constexpr size_t kNameBytes = 96;
// Where the handshake message carries the address the peer's probe reads (after the path).
constexpr size_t kProbeOffset = 80;
// And whether its sender issues a membarrier before it sleeps (see notifyConsumer()).
constexpr size_t kBarrierOffset = 88;
// Handshake acknowledgements: mapped, and whether the probe could read the sender's memory.
constexpr char kAckMapped = 1;
constexpr char kAckMappedAndReadable = 2;
constexpr size_t kBatchBelowBytes = 4096;

// Whether this process takes part in MEMBARRIER_CMD_GLOBAL_EXPEDITED: a rank about to sleep can
// then order every running rank's memory accesses with one system call, so the ranks that wake it
// need no fence of their own. Registered on first use; false where the kernel (or a seccomp
// filter) refuses, and every side then fences.
bool membarrierRegistered() {
  static const bool registered = [] {
    long commands = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    long wanted = MEMBARRIER_CMD_GLOBAL_EXPEDITED | MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED;
    return commands >= 0 && (commands & wanted) == wanted &&
           syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0, 0) == 0;
  }();
  return registered;
}

size_t segmentBytes(size_t slotBytes, int nslots) {
  return sizeof(ShmConnection::Fifo) + ShmConnection::kRingBytes +
         ShmConnection::slotStride(slotBytes) * static_cast<size_t>(nslots);
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
  if (!fd.valid()) {
    // The path names a descriptor of the peer's process: gone when the peer has exited.
    fail(errno == ENOENT ? braidRemoteError : braidSystemError, errnoText("open", errno), " (",
         path, errno == ENOENT ? "; the process that made it has exited)" : ")");
  }
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

ShmConnection::ShmConnection(int peer, Fd side, size_t slotBytes, int nslots, size_t singleCopyMin,
                             size_t singleCopyMax, bool rarelySleeps, const Deadline& deadline)
    : Connection(peer),
      side_(std::move(side)),
      slotBytes_(slotBytes),
      nslots_(nslots),
      singleCopyMin_(singleCopyMin),
      singleCopyMax_(singleCopyMax),
      barrierBeforeSleep_(rarelySleeps && membarrierRegistered()) {
  inSeg_ = ShmSegment::create(segmentBytes(slotBytes, nslots));
  char name[kNameBytes] = {};
  snprintf(name, kProbeOffset, "%s", inSeg_.path().c_str());
  in_ = reinterpret_cast<Fifo*>(inSeg_.data());
  auto probe = reinterpret_cast<uint64_t>(in_);
  std::memcpy(name + kProbeOffset, &probe, sizeof(probe));
  name[kBarrierOffset] = barrierBeforeSleep_ ? 1 : 0;
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
      peerReadsMe_ = ack == kAckMappedAndReadable && singleCopyMin_ > 0;
      state_ = State::kReady;
      break;
    }
    peerNameBytes_ += static_cast<size_t>(n);
    if (peerNameBytes_ < kNameBytes) continue;
    uint64_t probe = 0;
    std::memcpy(&probe, peerName_ + kProbeOffset, sizeof(probe));
    peerName_[kProbeOffset - 1] = '\0';
    fenceFree_ = membarrierRegistered() && peerName_[kBarrierOffset] == 1;
    if (std::sscanf(peerName_, "/proc/%d/fd/", &peerPid_) != 1) {
      fail(braidRemoteError, what, ": bad path");
    }
    outSeg_ = ShmSegment::open(peerName_, segmentBytes(slotBytes_, nslots_));
    out_ = reinterpret_cast<Fifo*>(outSeg_.data());
    char mine = singleCopyMin_ > 0 && probeRead(probe) ? kAckMappedAndReadable : kAckMapped;
    sendAll(side_.get(), &mine, 1, Deadline::after(1000), what);
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
  unnotified_ = false;  // the records written before are covered by this store's ordering
  out_->tail.store(sendTail_, std::memory_order_seq_cst);
  ring(out_->consumerSleeping);
}

void ShmConnection::release() {
  in_->head.store(recvHead_, std::memory_order_seq_cst);
  ring(in_->producerSleeping);
}

bool ShmConnection::outHasRoom() const {
  auto n = static_cast<uint64_t>(nslots_);
  if (sendTail_ - sendHeadSeen_ < n) return true;
  sendHeadSeen_ = out_->head.load(std::memory_order_acquire);
  return sendTail_ - sendHeadSeen_ < n;
}

bool ShmConnection::inHasData() const {
  if (recvTailSeen_ > recvHead_) return true;
  recvTailSeen_ = in_->tail.load(std::memory_order_acquire);
  return recvTailSeen_ > recvHead_;
}

bool ShmConnection::isDescriptor(uint64_t index) const {
  uint64_t mask = in_->descriptors.load(std::memory_order_relaxed);  // ordered by the tail's load
  return (mask >> (index % static_cast<uint64_t>(nslots_)) & 1) != 0;
}

void ShmConnection::markDescriptor(uint64_t index, bool descriptor) {
  uint64_t bit = uint64_t{1} << (index % static_cast<uint64_t>(nslots_));
  if (((descriptorMask_ & bit) != 0) == descriptor) return;
  descriptorMask_ ^= bit;
  out_->descriptors.store(descriptorMask_, std::memory_order_relaxed);  // published with the tail
}

size_t ShmConnection::ringSpan(size_t bytes) const {
  uint64_t offset = ringTail_ % kRingBytes;
  size_t record = recordBytes(bytes);
  size_t skipped = offset + record > kRingBytes ? kRingBytes - offset : 0;
  return skipped + record + sizeof(uint64_t);
}

bool ShmConnection::ringHasRoom(size_t bytes) const {
  size_t span = ringSpan(bytes);
  if (ringTail_ + span - ringHeadSeen_ <= kRingBytes) return true;
  ringHeadSeen_ = out_->ringHead.load(std::memory_order_acquire);
  return ringTail_ + span - ringHeadSeen_ <= kRingBytes;
}

void ShmConnection::writeRecord(const void* data, size_t bytes) {
  // Each stamp's release store publishes the cleared word of the stamp after it (see small()).
  char* base = outSeg_.data();
  uint64_t offset = ringTail_ % kRingBytes;
  if (offset + recordBytes(bytes) > kRingBytes) {
    uint64_t start = ringTail_ + (kRingBytes - offset);
    stampAt(base, start).store(0, std::memory_order_relaxed);
    stampAt(base, ringTail_).store(stampFor(ringTail_, kWrapLength), std::memory_order_release);
    ringTail_ = start;
  }
  std::memcpy(base + sizeof(Fifo) + ringTail_ % kRingBytes + sizeof(uint64_t), data, bytes);
  uint64_t next = ringTail_ + recordBytes(bytes);
  stampAt(base, next).store(0, std::memory_order_relaxed);
  stampAt(base, ringTail_).store(stampFor(ringTail_, bytes), std::memory_order_release);
  ringTail_ = next;
  unnotified_ = true;
}

bool ShmConnection::recordArrived() const {
  char* base = inSeg_.data();
  uint64_t stamp = stampAt(base, ringRead_).load(std::memory_order_acquire);
  if (stamp == stampFor(ringRead_, kWrapLength)) {
    ringRead_ += kRingBytes - ringRead_ % kRingBytes;
    stamp = stampAt(base, ringRead_).load(std::memory_order_acquire);
  }
  return stamp >> 16 == stampFor(ringRead_, 0) >> 16;
}

uint64_t ShmConnection::recordLength() const {
  return stampAt(inSeg_.data(), ringRead_).load(std::memory_order_relaxed) & 0xffff;
}

const char* ShmConnection::recordData() const {
  return inSeg_.data() + sizeof(Fifo) + ringRead_ % kRingBytes + sizeof(uint64_t);
}

void ShmConnection::consumeRecord(size_t bytes, void* copyTo) {
  uint64_t length = recordLength();
  if (length != bytes) {
    fail(braidRemoteError, "rank ", peer(), " sent a small message of ", length,
         " bytes where one of ", bytes, " bytes was expected");
  }
  if (copyTo != nullptr) std::memcpy(copyTo, recordData(), bytes);
  ringRead_ += recordBytes(bytes);
  if (ringRead_ - ringReleased_ >= kRingBytes / 4) releaseRing();
}

void ShmConnection::releaseRing() {
  ringReleased_ = ringRead_;
  in_->ringHead.store(ringReleased_, std::memory_order_seq_cst);
  ring(in_->producerSleeping);
}

void ShmConnection::notifyConsumer() {
  unnotified_ = false;
  // The stamps must be visible before the flag is loaded, or a peer that arms it meanwhile and
  // finds no stamp would sleep through them. A fence does it by waiting here for the stamps'
  // cache lines, which the peer is polling; with fenceFree_ the peer's membarrier, issued between
  // arming and its last look, does it instead, and only the compiler must keep the order.
  if (fenceFree_) {
    std::atomic_signal_fence(std::memory_order_seq_cst);
  } else {
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  ring(out_->consumerSleeping);
}

bool ShmConnection::probeRead(uint64_t address) const {
  if (peerPid_ == getpid()) return true;  // ranks as threads: one address space
  uint64_t word = 0;
  iovec local{&word, sizeof(word)};
  iovec remote{reinterpret_cast<void*>(address), sizeof(word)};
  return process_vm_readv(peerPid_, &local, 1, &remote, 1, 0) == sizeof(word);
}

void ShmConnection::readPeer(uint64_t address, size_t bytes, std::vector<iovec>& local) const {
  if (peerPid_ == getpid()) {
    const char* src = reinterpret_cast<const char*>(address);
    for (const iovec& piece : local) {
      std::memcpy(piece.iov_base, src, piece.iov_len);
      src += piece.iov_len;
    }
    return;
  }
  size_t first = 0;  // the piece the next read starts in
  for (size_t done = 0; done < bytes;) {
    iovec remote{reinterpret_cast<void*>(address + done), bytes - done};
    ssize_t n =
        process_vm_readv(peerPid_, local.data() + first, local.size() - first, &remote, 1, 0);
    if (n <= 0) {
      fail(braidRemoteError, "reading ", bytes, " bytes from rank ", peer(), ": ",
           errnoText("process_vm_readv", n < 0 ? errno : EIO),
           " (the peer died, or set BRAID_SHM_SINGLE_COPY_MIN=0)");
    }
    done += static_cast<size_t>(n);
    // A short read stops anywhere: skip the pieces it filled, trim the one it filled in part.
    for (auto left = static_cast<size_t>(n); left > 0;) {
      iovec& piece = local[first];
      size_t taken = std::min(left, piece.iov_len);
      piece.iov_base = static_cast<char*>(piece.iov_base) + taken;
      piece.iov_len -= taken;
      left -= taken;
      if (piece.iov_len == 0) ++first;
    }
  }
}

size_t ShmConnection::readDescriptor(std::deque<PendingRecv>::iterator first) {
  Descriptor d;
  std::memcpy(&d, slot(inSeg_.data(), recvHead_), sizeof(d));
  if (d.bytes <= descriptorRead_) {  // a descriptor is never empty, and read only this far
    fail(braidRemoteError, "rank ", peer(), " sent a single-copy message of ", d.bytes,
         " bytes, of which ", descriptorRead_, " were read already");
  }
  uint64_t left = d.bytes - descriptorRead_;
  readPieces_.clear();
  size_t bytes = 0;
  auto last = first;
  for (; last != recvs_.end() && bytes < left && readPieces_.size() < kMaxReadPieces; ++last) {
    if (last->bytes == 0) continue;  // empty messages do not travel
    if (last->data == nullptr || bytes + last->bytes > left) {
      fail(braidRemoteError, "rank ", peer(), " sent a single-copy message of ", d.bytes,
           " bytes that does not end where an expected message does");
    }
    readPieces_.push_back(iovec{last->data, last->bytes});
    bytes += last->bytes;
  }
  if (bytes == 0) return 0;
  readPeer(d.address + descriptorRead_, bytes, readPieces_);
  for (auto it = first; it != last; ++it)
    it->done = it->bytes;
  descriptorRead_ += bytes;
  if (descriptorRead_ == d.bytes) {
    descriptorRead_ = 0;
    ++recvHead_;
    release();  // the sender's buffer is free now
  }
  return bytes;
}

bool ShmConnection::sendSlotFree() const {
  // The slot may be posted with a small message, which goes to the ring.
  slotWanted_ = !(ready() && sends_.empty() && outHasRoom() && ringHasRoom(kSmallMaxMessage));
  return !slotWanted_;
}

void* ShmConnection::sendSlot() {
  return slot(outSeg_.data(), sendTail_);
}

void ShmConnection::postSlot(size_t bytes) {
  if (bytes == 0) return;
  if (small(bytes)) {
    // The receiver expects it in the ring (the slot was only a place to write it).
    writeRecord(slot(outSeg_.data(), sendTail_), bytes);
    notifyConsumer();
    return;
  }
  markDescriptor(sendTail_, false);
  ++sendTail_;
  publish();
}

void ShmConnection::postSend(const void* data, size_t bytes) {
  if (bytes > 0) sends_.push_back(PendingSend{static_cast<const char*>(data), bytes, 0, false});
}

void ShmConnection::postSendDirect(const void* data, size_t bytes) {
  if (bytes > 0) sends_.push_back(PendingSend{static_cast<const char*>(data), bytes, 0, true});
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
  if (small(r.bytes)) return recordArrived();
  return inHasData() && !isDescriptor(recvHead_);
}

const void* ShmConnection::recvData() const {
  const PendingRecv& r = recvs_.front();
  if (r.data != nullptr) return r.data;
  if (small(r.bytes)) return recordData();
  return slot(inSeg_.data(), recvHead_);
}

void ShmConnection::recvDone() {
  const PendingRecv& r = recvs_.front();
  if (r.data == nullptr && r.bytes > 0) {
    if (small(r.bytes)) {
      consumeRecord(r.bytes, nullptr);
    } else {
      ++recvHead_;
      release();
    }
  }
  recvs_.pop_front();
}

bool ShmConnection::progress() {
  if (!ready() && !advanceHandshake()) return false;
  bool moved = false;
  // Recorded before looking: what is published later shows as a change, never as seen. (A side
  // that starts waiting for room during this poll finds the head "changed" and polls again.)
  if (watch_) {
    if (!recvs_.empty()) {
      seenTail_ = in_->tail.load();
      seenStamp_ = stampAt(inSeg_.data(), ringRead_).load();
    }
    if (waitingForRoom()) {
      seenHead_ = out_->head.load();
      seenRingHead_ = out_->ringHead.load();
    }
  }
  // Slot pieces under kBatchBelowBytes go out under one publish: one store for the peer to see
  // instead of one per piece. Large ones are published as each is written, so the peer can start
  // on them. Records (small messages) need no publish: one notifyConsumer() covers them all.
  bool unpublished = false;
  bool singleCopy = peerReadsMe_ && operationBytes_ >= singleCopyMin_ &&
                    (singleCopyMax_ == 0 || operationBytes_ <= singleCopyMax_);
  // Each direction copies at most about a slot per call, so a rank that both sends and receives
  // alternates between them: copying out everything that has arrived before publishing its own
  // next message would leave the peer waiting for it meanwhile.
  size_t sendBudget = slotBytes_;
  while (!sends_.empty() && sendBudget > 0) {
    PendingSend& s = sends_.front();
    if (small(s.bytes)) {
      if (!ringHasRoom(s.bytes)) break;
      writeRecord(s.data, s.bytes);
      sendBudget -= std::min(sendBudget, s.bytes);
      sends_.pop_front();
      moved = true;
      continue;
    }
    if (!outHasRoom()) break;
    if (s.direct && s.done == 0 && singleCopy) {
      Descriptor d{reinterpret_cast<uint64_t>(s.data), s.bytes};
      sends_.pop_front();
      // Direct sends queued behind it that continue its memory go in the same descriptor: the
      // receiver reads them with one system call, which beyond the caches is up to 2x faster
      // than one per chunk.
      while (!sends_.empty() && sends_.front().direct && !small(sends_.front().bytes) &&
             sends_.front().done == 0 &&
             reinterpret_cast<uint64_t>(sends_.front().data) == d.address + d.bytes) {
        d.bytes += sends_.front().bytes;
        sends_.pop_front();
      }
      std::memcpy(slot(outSeg_.data(), sendTail_), &d, sizeof(d));
      markDescriptor(sendTail_, true);
      ++sendTail_;
      publish();
      awaitingRead_.push_back(sendTail_);
      moved = true;
      continue;
    }
    markDescriptor(sendTail_, false);
    size_t piece = std::min(slotBytes_, s.bytes - s.done);
    std::memcpy(slot(outSeg_.data(), sendTail_), s.data + s.done, piece);
    s.done += piece;
    sendBudget -= piece;
    ++sendTail_;
    unpublished = piece < kBatchBelowBytes;
    if (!unpublished) publish();
    moved = true;
    if (s.done == s.bytes) sends_.pop_front();
  }
  if (unpublished) publish();
  if (unnotified_) notifyConsumer();
  // A single-copy send is done once the peer has released its descriptor's slot.
  while (!awaitingRead_.empty() &&
         (awaitingRead_.front() <= sendHeadSeen_ ||
          awaitingRead_.front() <= (sendHeadSeen_ = out_->head.load(std::memory_order_acquire)))) {
    awaitingRead_.pop_front();
    moved = true;
  }
  // Copy into caller memory in posting order; a staged receive keeps its slot until consumed.
  bool unreleased = false;
  size_t recvBudget = slotBytes_;
  for (auto it = recvs_.begin(); it != recvs_.end(); ++it) {
    PendingRecv& r = *it;
    if (recvBudget == 0) break;
    if (r.done == r.bytes && r.data != nullptr) continue;
    if (r.data == nullptr) {
      // Only postSendDirect goes single-copy, and only toward a receive into caller memory.
      if (!small(r.bytes) && r.bytes > 0 && inHasData() && isDescriptor(recvHead_)) {
        fail(braidInternalError, "rank ", peer(),
             " sent a single-copy message where a staged one was expected");
      }
      break;
    }
    if (small(r.bytes)) {
      // Its stamp shows it arrived, without a look at the tail's cache line.
      if (!recordArrived()) break;
      // Sizes that disagree are an error, but a message before this one (an operation's header)
      // may say why better: it is looked at first.
      if (it != recvs_.begin() && recordLength() != r.bytes) break;
      consumeRecord(r.bytes, r.data);
      r.done = r.bytes;
      recvBudget -= std::min(recvBudget, r.bytes);
      moved = true;
      continue;
    }
    while (r.done < r.bytes && recvBudget > 0 && inHasData()) {
      if (r.done == 0 && isDescriptor(recvHead_)) {
        size_t bytes = readDescriptor(it);
        recvBudget -= std::min(recvBudget, bytes);
        unreleased = false;
        moved = true;
        break;
      }
      size_t piece = std::min(slotBytes_, r.bytes - r.done);
      std::memcpy(r.data + r.done, slot(inSeg_.data(), recvHead_), piece);
      r.done += piece;
      recvBudget -= piece;
      ++recvHead_;
      unreleased = piece < kBatchBelowBytes;
      if (!unreleased) release();
      moved = true;
    }
    if (r.done < r.bytes) break;
  }
  if (unreleased) release();
  if (armed_) {
    armed_ = false;
    in_->consumerSleeping.store(0);
    out_->producerSleeping.store(0);
    char bells[64];
    for (;;) {
      ssize_t n = ::recv(side_.get(), bells, sizeof(bells), MSG_DONTWAIT);
      if (n > 0) continue;
      // A peer that closes with a bell of ours unread resets the channel instead: closed as well.
      if (n == 0 || errno == ECONNRESET) {
        peerClosed_ = true;
        break;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      fail(braidRemoteError, "shared-memory connection to rank ", peer(), ": ",
           errnoText("recv", errno));
    }
  }
  // A poll with nothing to do hands back what the ring holds consumed: the peer may be waiting for
  // room while this rank waits for something else.
  if (!moved && ringRead_ != ringReleased_) releaseRing();
  if (peerClosed_ && !moved) {
    bool starved = !recvs_.empty() && !recvReady() &&
                   !(small(recvs_.front().bytes) ? recordArrived() : inHasData());
    // What the peer released before it closed is visible now: a staged send still without room
    // never gets it.
    bool stuck = !sends_.empty() || !awaitingRead_.empty() || (slotWanted_ && !sendSlotFree());
    if (starved || stuck) {
      fail(braidRemoteError, "rank ", peer(),
           " closed its shared-memory connection (it died, aborted or destroyed its "
           "communicator)");
    }
  }
  watched_ = watch_ && !moved;
  watch_ = watch_ && !moved;  // a poll that moves something is followed by more polls
  return moved;
}

bool ShmConnection::changedSinceProgress() const {
  return (!recvs_.empty() && (in_->tail.load() != seenTail_ ||
                              stampAt(inSeg_.data(), ringRead_).load() != seenStamp_)) ||
         (waitingForRoom() &&
          (out_->head.load() != seenHead_ || out_->ringHead.load() != seenRingHead_));
}

bool ShmConnection::prepareToSleep(std::vector<pollfd>* fds) {
  if (!ready()) {
    fds->push_back(pollfd{side_.get(), POLLIN, 0});
    return true;
  }
  if ((!waitingForRoom() && recvs_.empty()) || peerClosed_) {
    watch_ = false;  // nothing to wait for here: polls need not record anything
    return true;
  }
  if (!watched_) {
    watch_ = true;  // poll once more, recording the counters first
    return false;
  }
  // Arm first, then look again: a peer that changed the FIFO before seeing the flag is seen here.
  if (!recvs_.empty()) {
    in_->consumerSleeping.store(1);
    // Orders the stamps of a peer that skipped its fence (notifyConsumer()) before the look
    // below, as the handshake promised it.
    // Should it fail (it does not once registered, but a kernel may say ENOMEM), this rank polls
    // on instead of sleeping.
    if (barrierBeforeSleep_ &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL_EXPEDITED, 0, 0) != 0) {
      in_->consumerSleeping.store(0);
      armed_ = true;  // the next progress() reads any bell, and notices a peer that closed
      return false;
    }
  }
  if (waitingForRoom()) out_->producerSleeping.store(1);
  armed_ = true;
  if (changedSinceProgress()) return false;
  fds->push_back(pollfd{side_.get(), POLLIN, 0});
  return true;
}

void ShmConnection::shutdown() {
  ::shutdown(side_.get(), SHUT_RDWR);
}

}  // namespace braid
