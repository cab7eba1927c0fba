// errnoText: the one place that turns errno into words.
#include "core/error.h"

#include <cstring>

namespace braid {

std::string errnoText(const char* call, int err) {
  return std::string(call) + ": " + std::strerror(err);
}

}  // namespace braid
