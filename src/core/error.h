// Errors inside Braid: an exception carrying a braidResult_t and a message. Internal code throws;
// src/api/ catches at the C boundary, records the message for braidGetLastError and returns the
// code, so exceptions never cross the C API.
#pragma once

#include <stdexcept>
#include <string>

#include "collectives/braid.h"

namespace braid {

class Error : public std::runtime_error {
 public:
  Error(braidResult_t code, const std::string& message)
      : std::runtime_error(message), code_(code) {}
  braidResult_t code() const { return code_; }

 private:
  braidResult_t code_;
};

// A failure another rank reported over the control ring: not to be reported onwards again.
class PeerFailure : public Error {
 public:
  using Error::Error;
};

// Builds a message from any streamable pieces: fail(braidInvalidArgument, "count ", n, " too big").
template <typename... Parts>
[[noreturn]] void fail(braidResult_t code, const Parts&... parts);

// errno's text with the name of the call that set it: "connect: Connection refused".
std::string errnoText(const char* call, int err);

}  // namespace braid

#include <sstream>

template <typename... Parts>
[[noreturn]] void braid::fail(braidResult_t code, const Parts&... parts) {
  std::ostringstream s;
  (s << ... << parts);
  throw Error(code, s.str());
}
