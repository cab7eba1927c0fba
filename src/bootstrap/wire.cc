// Framed messages over the bootstrap's sockets.
#include "bootstrap/wire.h"

#include <cstring>

#include "core/error.h"

namespace braid {

void sendFrame(int fd, MsgType type, const void* payload, uint32_t length, const Deadline& deadline,
               const std::string& what) {
  std::vector<char> buf(sizeof(FrameHeader) + length);
  FrameHeader h{kFrameMagic, kWireVersion, static_cast<uint16_t>(type), length, 0};
  std::memcpy(buf.data(), &h, sizeof(h));
  if (length > 0) std::memcpy(buf.data() + sizeof(h), payload, length);
  sendAll(fd, buf.data(), buf.size(), deadline, what);
}

MsgType recvFrame(int fd, std::vector<char>* payload, const Deadline& deadline,
                  const std::string& what) {
  FrameHeader h{};
  recvAll(fd, &h, sizeof(h), deadline, what);
  if (h.magic != kFrameMagic) {
    fail(braidRemoteError, what, ": not a Braid peer (bad frame magic 0x", std::hex, h.magic, ")");
  }
  if (h.version != kWireVersion) {
    fail(braidRemoteError, what, ": peer speaks wire version ", h.version, ", this build ",
         kWireVersion);
  }
  if (h.length > kMaxFrameBytes) {
    fail(braidRemoteError, what, ": frame of ", h.length, " bytes exceeds the limit");
  }
  payload->resize(h.length);
  if (h.length > 0) recvAll(fd, payload->data(), h.length, deadline, what);
  return static_cast<MsgType>(h.type);
}

}  // namespace braid
