// chooseRoceGid: one score per entry, highest wins, lowest index among equals.
#include "transport/ib/gid_select.h"

#include <arpa/inet.h>

namespace braid {

namespace {

bool isZero(const std::array<uint8_t, 16>& g) {
  for (uint8_t b : g) {
    if (b != 0) return false;
  }
  return true;
}

bool isIpv4Mapped(const std::array<uint8_t, 16>& g) {
  for (int i = 0; i < 10; ++i) {
    if (g[i] != 0) return false;
  }
  return g[10] == 0xff && g[11] == 0xff;
}

bool isLinkLocal(const std::array<uint8_t, 16>& g) {
  return g[0] == 0xfe && (g[1] & 0xc0) == 0x80;
}

// 0: unusable; otherwise larger is better.
int score(const GidEntry& e) {
  if (e.type == GidType::kIb || isZero(e.raw) || isLinkLocal(e.raw)) return 0;
  int version = e.type == GidType::kRoceV2 ? 2 : 0;
  return version + (isIpv4Mapped(e.raw) ? 2 : 1);
}

}  // namespace

int chooseRoceGid(const std::vector<GidEntry>& table) {
  int best = -1;
  int bestScore = 0;
  for (const GidEntry& e : table) {
    int s = score(e);
    if (s > bestScore || (s == bestScore && s > 0 && e.index < best)) {
      best = e.index;
      bestScore = s;
    }
  }
  return best;
}

std::string gidText(const std::array<uint8_t, 16>& raw) {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, raw.data(), text, sizeof(text));
  return text;
}

}  // namespace braid
