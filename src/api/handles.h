// The C boundary's bookkeeping: which communicator handles are alive (so a destroyed or bogus
// handle gets braidInvalidArgument instead of a crash), how many calls are inside each (so
// braidCommAbort can wait for them to leave), and the last error message per communicator.
#pragma once

#include <atomic>
#include <string>

#include "collectives/braid.h"
#include "core/comm.h"

namespace braid {

void registerComm(Comm* comm);
// Stops new calls on comm, waits until calls already inside have returned, then deletes it.
void retireComm(Comm* comm);

// Holds a live communicator for the length of one call.
class CommRef {
 public:
  // Throws braidInvalidArgument for a NULL, destroyed or foreign handle.
  explicit CommRef(braidComm_t handle);
  ~CommRef();
  CommRef(const CommRef&) = delete;
  CommRef& operator=(const CommRef&) = delete;
  Comm* get() const { return comm_; }
  Comm* operator->() const { return comm_; }

 private:
  Comm* comm_;
  // The registry entry's count of calls inside: its node outlives this call (retireComm waits
  // for the count to drop).
  std::atomic<int>* activeCalls_ = nullptr;
};

inline braidComm_t toHandle(Comm* c) {
  return reinterpret_cast<braidComm_t>(c);
}

// Records text as the last error of comm (or of this thread when comm is NULL or not live).
void recordError(braidComm_t handle, const std::string& text);
const char* lastErrorOf(braidComm_t handle);

// Runs f, turning any exception into a result code and a recorded message prefixed by `fn`.
template <typename F>
braidResult_t guarded(const char* fn, braidComm_t handle, F&& f);

}  // namespace braid

#include <new>

#include "core/log.h"

template <typename F>
braidResult_t braid::guarded(const char* fn, braidComm_t handle, F&& f) {
  try {
    f();
    return braidSuccess;
  } catch (const Error& e) {
    std::string text = std::string(fn) + ": " + e.what();
    if (e.code() == braidInvalidArgument) BRAID_WARN(kColl, "%s", text.c_str());
    recordError(handle, text);
    return e.code();
  } catch (const std::bad_alloc&) {
    recordError(handle, std::string(fn) + ": out of memory");
    return braidSystemError;
  } catch (const std::exception& e) {
    recordError(handle, std::string(fn) + ": internal error: " + e.what());
    return braidInternalError;
  }
}
