// The logger's state is read from the parameter registry once, on first use.
#include "core/log.h"

#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>
#include <string>

#include "core/params.h"

namespace braid {

namespace {

thread_local int tlsRank = -1;

struct Logger {
  LogLevel level = LogLevel::kWarn;
  uint32_t mask = ~0u;
  FILE* out = stderr;
  char host[64] = "?";
  std::mutex mu;

  Logger() {
    gethostname(host, sizeof(host) - 1);
    std::string lv = paramString("BRAID_DEBUG");
    for (char& c : lv)
      c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    if (lv == "NONE") level = LogLevel::kNone;
    if (lv == "WARN" || lv == "VERSION") level = LogLevel::kWarn;
    if (lv == "INFO") level = LogLevel::kInfo;
    if (lv == "TRACE") level = LogLevel::kTrace;
    mask = parseMask(paramString("BRAID_DEBUG_SUBSYS"));
    std::string file = paramString("BRAID_DEBUG_FILE");
    if (!file.empty()) openFile(file);
  }

  static uint32_t subsysBit(const std::string& name) {
    static const struct {
      const char* name;
      uint32_t bit;
    } kNames[] = {{"INIT", kInit}, {"BOOT", kBoot},     {"NET", kNet}, {"COLL", kColl},
                  {"P2P", kP2P},   {"TUNING", kTuning}, {"ENV", kEnv}, {"ALL", ~0u}};
    for (const auto& n : kNames) {
      if (strcasecmp(name.c_str(), n.name) == 0) return n.bit;
    }
    return 0;
  }

  static uint32_t parseMask(const std::string& spec) {
    bool exclude = !spec.empty() && spec[0] == '^';
    uint32_t bits = 0;
    std::stringstream list(exclude ? spec.substr(1) : spec);
    for (std::string item; std::getline(list, item, ',');)
      bits |= subsysBit(item);
    return exclude ? ~bits : bits;
  }

  void openFile(const std::string& pattern) {
    std::string path;
    for (size_t i = 0; i < pattern.size(); ++i) {
      if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'h') {
        path += host;
        ++i;
      } else if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'p') {
        path += std::to_string(getpid());
        ++i;
      } else {
        path += pattern[i];
      }
    }
    FILE* f = fopen(path.c_str(), "a");
    if (f != nullptr) {
      setvbuf(f, nullptr, _IOLBF, 0);
      out = f;
    } else {
      fprintf(stderr, "%s:%d BRAID WARN cannot open BRAID_DEBUG_FILE %s: %s\n", host, getpid(),
              path.c_str(), strerror(errno));
    }
  }
};

Logger& logger() {
  static Logger* instance = new Logger();  // never destroyed: logging works during exit
  return *instance;
}

const char* levelName(LogLevel level) {
  switch (level) {
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kTrace:
      return "TRACE";
    default:
      return "";
  }
}

}  // namespace

bool logEnabled(LogLevel level, uint32_t subsys) {
  Logger& l = logger();
  return level <= l.level && (subsys & l.mask) != 0;
}

void logWrite(LogLevel level, uint32_t /*subsys*/, const char* fmt, ...) {
  Logger& l = logger();
  char msg[1024];
  va_list args;
  va_start(args, fmt);
  vsnprintf(msg, sizeof(msg), fmt, args);
  va_end(args);
  std::lock_guard<std::mutex> lock(l.mu);
  if (tlsRank >= 0) {
    fprintf(l.out, "%s:%d:%d BRAID %s %s\n", l.host, getpid(), tlsRank, levelName(level), msg);
  } else {
    fprintf(l.out, "%s:%d BRAID %s %s\n", l.host, getpid(), levelName(level), msg);
  }
}

LogRankScope::LogRankScope(int rank) : saved_(tlsRank) {
  tlsRank = rank;
}
LogRankScope::~LogRankScope() {
  tlsRank = saved_;
}

}  // namespace braid
