// The bootstrap's wire format: every message is a frame (magic, version, type, length) followed by
// at most kMaxFrameBytes of payload. A wrong magic or version is refused before anything else is
// read, so a stray connection or an incompatible build cannot be mistaken for a peer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/deadline.h"
#include "transport/socket.h"

namespace braid {

enum class MsgType : uint16_t {
  kRootHello = 1,  // rank -> root: who I am and where I listen
  kRootTable = 2,  // root -> rank: every rank's listen address
  kRootError = 3,  // root -> rank: the rendezvous failed (text)
  kRingHello = 4,  // rank -> next rank: opens the control ring
  kDataHello = 5,  // rank -> peer: opens one stream of a data connection
  kAllgather = 6,  // one block of a control-ring allgather
  kAbort = 7,      // control ring: a rank failed; carries its code and text
  kBye = 8,        // control ring: orderly shutdown of a neighbour
};

constexpr uint32_t kFrameMagic = 0x31445242;  // "BRD1"
constexpr uint16_t kWireVersion = 1;
constexpr uint32_t kMaxFrameBytes = 16u << 20;

struct FrameHeader {
  uint32_t magic;
  uint16_t version;
  uint16_t type;
  uint32_t length;
  uint32_t reserved;
};

// Identifies a connecting rank to a listener; the first frame on every accepted connection.
struct ConnectHello {
  uint64_t commMagic;
  int32_t fromRank;
  int32_t stream;    // data connections: which stream of the peer's set
  int32_t nstreams;  // data connections: how many streams the peer opens
  int32_t reserved;
};

void sendFrame(int fd, MsgType type, const void* payload, uint32_t length, const Deadline& deadline,
               const std::string& what);
// Receives one frame; rejects a bad magic, version or oversized length with braidRemoteError.
MsgType recvFrame(int fd, std::vector<char>* payload, const Deadline& deadline,
                  const std::string& what);

// Encoded in braidUniqueId.
struct UniqueIdData {
  uint32_t idMagic;  // kUniqueIdMagic: catches an uninitialised or garbled id
  uint32_t version;
  uint64_t commMagic;  // random: tells this communicator's connections from any other's
  SockAddr root;
};
constexpr uint32_t kUniqueIdMagic = 0x44495242;  // "BRID"

}  // namespace braid
