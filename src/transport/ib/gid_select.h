// Which GID of a RoCE port a queue pair addresses its peer with. A RoCE port's GID table holds one
// entry per IP address of its network device, once per RoCE version; only some reach a peer on
// another host. Preferred, in order: RoCE v2 with an IPv4-mapped address (routable, what most
// fabrics run), RoCE v2 with a global IPv6 address, then the same two for RoCE v1. Link-local
// (fe80::) and empty entries are never chosen: a link-local GID works only inside one L2 segment
// and its index differs from host to host. The scan is a pure function of the table so it is
// tested with made-up tables; the device code reads the real one into GidEntry values.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace braid {

enum class GidType { kIb, kRoceV1, kRoceV2 };

struct GidEntry {
  int index;
  std::array<uint8_t, 16> raw;
  GidType type;
};

// The index of the best entry by the order above, or -1 when none is usable.
int chooseRoceGid(const std::vector<GidEntry>& table);

// "::ffff:10.77.0.1" or "fe80::..."-style text of a GID, for logs.
std::string gidText(const std::array<uint8_t, 16>& raw);

}  // namespace braid
