// RegistrationCache: a short list of regions, searched linearly (an operation touches a few).
#include "transport/ib/registration_cache.h"

#include <unistd.h>

namespace braid {

MemoryRegion RegistrationCache::cover(const void* data, size_t bytes) {
  uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  uintptr_t end = begin + bytes;
  for (const MemoryRegion& r : regions_) {
    if (r.begin <= begin && end <= r.begin + r.bytes) return r;
  }
  uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t first = begin / page * page;
  uintptr_t last = (end + page - 1) / page * page;
  MemoryRegion r = register_(reinterpret_cast<void*>(first), last - first);
  r.begin = first;
  r.bytes = last - first;
  regions_.push_back(r);
  return r;
}

void RegistrationCache::releaseAll() {
  for (const MemoryRegion& r : regions_)
    deregister_(r);
  regions_.clear();
}

}  // namespace braid
