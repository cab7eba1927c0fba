// TCP sockets for the bootstrap and the tcp transport: an RAII descriptor, addresses (IPv4 and
// IPv6), the choice of interface by BRAID_SOCKET_IFNAME, and deadline-bounded blocking I/O.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/deadline.h"

namespace braid {

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset();

 private:
  int fd_ = -1;
};

// A socket address in a fixed, serialisable form (family, port, 16 address bytes, scope).
struct SockAddr {
  uint16_t family = 0;  // AF_INET or AF_INET6
  uint16_t port = 0;    // host order
  uint32_t scope = 0;
  uint8_t addr[16] = {};

  sockaddr_storage toSockaddr(socklen_t* len) const;
  static SockAddr fromSockaddr(const sockaddr* sa);
  std::string str() const;  // "1.2.3.4:5" or "[::1]:5"
  bool operator==(const SockAddr&) const = default;
};
static_assert(sizeof(SockAddr) == 24);

// Resolves "host:port" or "[v6]:port" (a name or a literal).
SockAddr parseHostPort(const std::string& text);

// The local address to listen on and advertise, chosen by BRAID_SOCKET_IFNAME and
// BRAID_SOCKET_FAMILY. *ifname receives the interface's name.
SockAddr chooseLocalAddress(std::string* ifname);
// True when the interface name passes a BRAID_SOCKET_IFNAME-style filter ("eth,ib", "^docker",
// "=eth0"). An empty filter matches everything.
bool interfaceMatches(const std::string& filter, const std::string& name);

// A listening socket on addr (port 0 picks one); addr->port is set to the actual port.
Fd listenOn(SockAddr* addr, int backlog = 1024);
// Connects, retrying refused attempts until the deadline (the peer may not be listening yet).
Fd connectTo(const SockAddr& addr, const Deadline& deadline, const std::string& what);
// Accepts one connection, waiting up to the deadline. Returns an invalid Fd if none arrived.
Fd acceptOne(int listenFd, const Deadline& deadline);

void setNonBlocking(int fd, bool on);
void setNoDelay(int fd);

// Blocking transfers on a (possibly non-blocking) socket with poll() and the deadline. They throw
// braidRemoteError when the peer closes or resets, naming `what`.
void sendAll(int fd, const void* data, size_t bytes, const Deadline& deadline,
             const std::string& what);
void recvAll(int fd, void* data, size_t bytes, const Deadline& deadline, const std::string& what);

}  // namespace braid
