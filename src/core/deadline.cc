// Deadline: timeouts and abort in one place.
#include "core/deadline.h"

#include <algorithm>

#include "core/error.h"

namespace braid {

Deadline Deadline::after(int64_t ms, const std::atomic<bool>* abort) {
  Deadline d;
  d.abort_ = abort;
  d.limitMs_ = ms;
  d.forever_ = ms <= 0;
  if (!d.forever_) d.end_ = Clock::now() + std::chrono::milliseconds(ms);
  return d;
}

int Deadline::pollTimeoutMs() const {
  if (forever_) return kAbortCheckMs;
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end_ - Clock::now()).count();
  return static_cast<int>(std::clamp<int64_t>(left, 0, kAbortCheckMs));
}

void Deadline::check(const std::string& what) const {
  if (aborted()) fail(braidInvalidUsage, what, ": communicator aborted by braidCommAbort");
  if (expired()) {
    fail(braidTimeout, what, " timed out after ", limitMs_, " ms (BRAID_TIMEOUT_MS)");
  }
}

}  // namespace braid
