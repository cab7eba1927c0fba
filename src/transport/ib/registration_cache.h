// Registrations of caller memory for zero-copy transfers (memory sent from, and receive buffers
// the peer writes into), reused within one operation and never after.
//
// Why not across operations: a registration pins the physical pages behind a virtual range. When
// the caller frees a buffer and allocates another that lands at the same address (glibc serves
// large blocks with mmap, so free() unmaps them and the next malloc often maps the same range
// again), the address is the same but the pages are new. A cache keyed by address, or by address
// and length, would hand out the old registration and the NIC would read pages the caller no
// longer sees: silently wrong data. Noticing the reuse needs hooks on munmap (UCX patches it) or
// on-demand paging (many devices, rxe among them, lack it). So a region lives from the first send
// that needs it to the end of the operation (Comm calls Connection::operationDone): the call is
// blocking for host memory, so the buffer cannot be freed while its registration is cached, and
// every later call registers afresh. Within an operation the same span (a buffer sent to several
// peers in turn, pieces of one message) is registered once.
//
// The registrar is passed in, so the rule above is tested without a device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace braid {

struct MemoryRegion {
  uintptr_t begin = 0;
  size_t bytes = 0;
  uint32_t lkey = 0;
  uint32_t rkey = 0;
  void* handle = nullptr;  // the registrar's own (an ibv_mr*)
};

class RegistrationCache {
 public:
  // Registers [begin, begin+bytes) (whole pages) or throws; filled in except begin and bytes.
  using Register = std::function<MemoryRegion(void* begin, size_t bytes)>;
  using Deregister = std::function<void(const MemoryRegion&)>;

  RegistrationCache(Register reg, Deregister dereg)
      : register_(std::move(reg)), deregister_(std::move(dereg)) {}
  ~RegistrationCache() { releaseAll(); }
  RegistrationCache(const RegistrationCache&) = delete;
  RegistrationCache& operator=(const RegistrationCache&) = delete;

  // A region covering [data, data+bytes): a cached one, else a new one over the pages it spans.
  MemoryRegion cover(const void* data, size_t bytes);
  // The operation is over: every region is deregistered and none will be handed out again.
  void releaseAll();
  size_t size() const { return regions_.size(); }

 private:
  Register register_;
  Deregister deregister_;
  std::vector<MemoryRegion> regions_;
};

}  // namespace braid
