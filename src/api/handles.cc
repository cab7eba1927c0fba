// The live-handle registry and last-error storage.
#include "api/handles.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace braid {

namespace {

// A communicator's entry. Entries are never freed (a few bytes per communicator ever made), so
// a thread holding a pointer to one may always read it.
struct Entry {
  std::atomic<int> activeCalls{0};
  std::atomic<bool> retiring{false};
};

struct Registry {
  std::mutex mu;
  std::deque<Entry> entries;  // every one ever made (a deque never moves its elements)
  std::unordered_map<const Comm*, Entry*> live;
};

// The communicator this thread called last and its entry: a loop of calls on one communicator
// takes no lock.
struct LastUsed {
  const Comm* comm = nullptr;
  Entry* entry = nullptr;
};
thread_local LastUsed tlsLastUsed;

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: handles may be used during exit
  return *r;
}

thread_local std::string tlsLastError;

}  // namespace

void registerComm(Comm* comm) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.live.try_emplace(comm, &r.entries.emplace_back());
}

void retireComm(Comm* comm) {
  Registry& r = registry();
  {
    std::unique_lock<std::mutex> lock(r.mu);
    auto it = r.live.find(comm);
    if (it == r.live.end() || it->second->retiring) {
      fail(braidInvalidArgument, "invalid or already destroyed communicator");
    }
    Entry& e = *it->second;
    e.retiring = true;  // before reading the count: see CommRef's fast path
    // Calls inside leave by decrementing the count alone, without the lock: look each millisecond.
    while (e.activeCalls.load() != 0) {
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      lock.lock();
    }
    r.live.erase(comm);
  }
  delete comm;
}

CommRef::CommRef(braidComm_t handle) : comm_(reinterpret_cast<Comm*>(handle)) {
  if (comm_ == nullptr) fail(braidInvalidArgument, "comm is NULL");
  LastUsed& last = tlsLastUsed;
  if (last.comm == comm_) {
    // Counted in, then checked: retireComm sets retiring, then reads the count, so (both
    // sequentially consistent) it either waits for this call or this call sees retiring. Seen
    // retiring, the handle may be dead, or a new communicator at a freed one's address: ask the
    // registry.
    last.entry->activeCalls.fetch_add(1);
    if (!last.entry->retiring.load()) {
      activeCalls_ = &last.entry->activeCalls;
      return;
    }
    last.entry->activeCalls.fetch_sub(1);
  }
  std::lock_guard<std::mutex> lock(registry().mu);
  auto it = registry().live.find(comm_);
  if (it == registry().live.end() || it->second->retiring) {
    comm_ = nullptr;
    fail(braidInvalidArgument, "invalid or destroyed communicator");
  }
  ++it->second->activeCalls;
  activeCalls_ = &it->second->activeCalls;
  last = {comm_, it->second};
}

// The decrement is the call's last touch of the communicator: retireComm may delete it as soon as
// it sees zero (the entry itself is never freed).
CommRef::~CommRef() {
  if (comm_ != nullptr) --*activeCalls_;
}

void recordError(braidComm_t handle, const std::string& text) {
  auto* comm = reinterpret_cast<Comm*>(handle);
  {
    std::lock_guard<std::mutex> lock(registry().mu);
    auto it = registry().live.find(comm);
    if (comm != nullptr && it != registry().live.end()) {
      comm->setLastError(text);
      return;
    }
  }
  tlsLastError = text;
}

const char* lastErrorOf(braidComm_t handle) {
  auto* comm = reinterpret_cast<Comm*>(handle);
  // Copied into this thread's storage under the lock: another thread may destroy comm next.
  thread_local std::string copy;
  {
    std::lock_guard<std::mutex> lock(registry().mu);
    if (comm != nullptr && registry().live.count(comm) != 0) {
      copy = comm->lastError();
      return copy.c_str();
    }
  }
  return tlsLastError.c_str();
}

}  // namespace braid
