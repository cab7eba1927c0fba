// Logging: BRAID_DEBUG picks the level, BRAID_DEBUG_SUBSYS the subsystems, BRAID_DEBUG_FILE the
// destination. Every line starts with host:pid:rank so interleaved output from many ranks sorts.
#pragma once

#include <cstdint>

namespace braid {

enum class LogLevel { kNone = 0, kWarn = 1, kInfo = 2, kTrace = 3 };

enum Subsys : uint32_t {
  kInit = 1u << 0,
  kBoot = 1u << 1,
  kNet = 1u << 2,
  kColl = 1u << 3,
  kP2P = 1u << 4,
  kTuning = 1u << 5,
  kEnv = 1u << 6,
};

bool logEnabled(LogLevel level, uint32_t subsys);
[[gnu::format(printf, 3, 4)]] void logWrite(LogLevel level, uint32_t subsys, const char* fmt, ...);

// The rank shown in this thread's log lines (-1: none). API entry points set it for their call.
class LogRankScope {
 public:
  explicit LogRankScope(int rank);
  ~LogRankScope();
  LogRankScope(const LogRankScope&) = delete;
  LogRankScope& operator=(const LogRankScope&) = delete;

 private:
  int saved_;
};

}  // namespace braid

#define BRAID_LOG(level, subsys, ...)                                                      \
  do {                                                                                     \
    if (::braid::logEnabled(level, subsys)) ::braid::logWrite(level, subsys, __VA_ARGS__); \
  } while (0)
#define BRAID_WARN(subsys, ...) BRAID_LOG(::braid::LogLevel::kWarn, subsys, __VA_ARGS__)
#define BRAID_INFO(subsys, ...) BRAID_LOG(::braid::LogLevel::kInfo, subsys, __VA_ARGS__)
#define BRAID_TRACE(subsys, ...) BRAID_LOG(::braid::LogLevel::kTrace, subsys, __VA_ARGS__)
