// hostIdentity: host name + boot id, or BRAID_HOSTID.
#include "topology/host_identity.h"

#include <unistd.h>

#include <fstream>

#include "core/params.h"

namespace braid {

std::string hostIdentity() {
  std::string forced = paramString("BRAID_HOSTID");
  if (!forced.empty()) return forced;
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::string bootId;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> bootId;
  return std::string(host) + "/" + bootId;
}

uint64_t hostIdentityHash() {
  uint64_t h = 1469598103934665603ull;
  for (char c : hostIdentity())
    h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

}  // namespace braid
