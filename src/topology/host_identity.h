// Which host a rank runs on: the host name plus the kernel's boot id, so two machines (or
// containers) that share a name are still told apart. BRAID_HOSTID overrides it, which lets tests
// make ranks of one machine act as separate hosts.
#pragma once

#include <cstdint>
#include <string>

namespace braid {

std::string hostIdentity();
uint64_t hostIdentityHash();

}  // namespace braid
