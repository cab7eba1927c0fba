// Socket helpers: the system-call details live here so bootstrap and transport code reads simply.
#include "transport/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"

namespace braid {

void Fd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

sockaddr_storage SockAddr::toSockaddr(socklen_t* len) const {
  sockaddr_storage ss{};
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, addr, 4);
    *len = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    in6->sin6_scope_id = scope;
    std::memcpy(&in6->sin6_addr, addr, 16);
    *len = sizeof(sockaddr_in6);
  }
  return ss;
}

SockAddr SockAddr::fromSockaddr(const sockaddr* sa) {
  SockAddr a;
  a.family = sa->sa_family;
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    a.port = ntohs(in->sin_port);
    std::memcpy(a.addr, &in->sin_addr, 4);
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    a.port = ntohs(in6->sin6_port);
    a.scope = in6->sin6_scope_id;
    std::memcpy(a.addr, &in6->sin6_addr, 16);
  }
  return a;
}

std::string SockAddr::str() const {
  char buf[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family, addr, buf, sizeof(buf));
  std::ostringstream s;
  if (family == AF_INET6) {
    s << '[' << buf << "]:" << port;
  } else {
    s << buf << ':' << port;
  }
  return s.str();
}

SockAddr parseHostPort(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      fail(braidInvalidArgument, "'", text, "' is not [ipv6]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) fail(braidInvalidArgument, "'", text, "' is not host:port");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  int64_t portNum = 0;
  if (host.empty() || !parseSize(port, &portNum) || portNum <= 0 || portNum > 65535) {
    fail(braidInvalidArgument, "'", text, "' is not host:port with a port in 1-65535");
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0 || res == nullptr) {
    fail(braidInvalidArgument, "cannot resolve '", host, "': ", gai_strerror(rc));
  }
  SockAddr a = SockAddr::fromSockaddr(res->ai_addr);
  freeaddrinfo(res);
  a.port = static_cast<uint16_t>(portNum);
  return a;
}

bool interfaceMatches(const std::string& filter, const std::string& name) {
  if (filter.empty()) return true;
  std::string list = filter;
  bool exclude = list[0] == '^';
  if (exclude) list.erase(0, 1);
  bool exact = !list.empty() && list[0] == '=';
  if (exact) list.erase(0, 1);
  bool hit = false;
  std::stringstream items(list);
  for (std::string item; std::getline(items, item, ',');) {
    if (item.empty()) continue;
    if (exact ? name == item : name.compare(0, item.size(), item) == 0) hit = true;
  }
  return exclude ? !hit : hit;
}

SockAddr chooseLocalAddress(std::string* ifname) {
  std::string filter = paramString("BRAID_SOCKET_IFNAME");
  std::string familyText = paramString("BRAID_SOCKET_FAMILY");
  int wantFamily = familyText == "4" ? AF_INET : familyText == "6" ? AF_INET6 : AF_UNSPEC;
  if (!familyText.empty() && wantFamily == AF_UNSPEC) {
    fail(braidInvalidArgument, "BRAID_SOCKET_FAMILY='", familyText, "' must be 4 or 6");
  }
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) fail(braidSystemError, errnoText("getifaddrs", errno));
  SockAddr chosen;
  SockAddr loopback;
  std::string chosenName;
  std::string loopbackName;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || (i->ifa_flags & IFF_UP) == 0) continue;
    int fam = i->ifa_addr->sa_family;
    if (fam != AF_INET && fam != AF_INET6) continue;
    if (wantFamily != AF_UNSPEC && fam != wantFamily) continue;
    SockAddr a = SockAddr::fromSockaddr(i->ifa_addr);
    if (fam == AF_INET6 && a.addr[0] == 0xfe && (a.addr[1] & 0xc0) == 0x80) continue;  // link-local
    std::string name = i->ifa_name;
    if (!filter.empty()) {
      if (interfaceMatches(filter, name) && chosen.family == 0) {
        chosen = a;
        chosenName = name;
      }
      continue;
    }
    bool isLoopback = (i->ifa_flags & IFF_LOOPBACK) != 0;
    bool isVirtual = name.compare(0, 6, "docker") == 0 || name.compare(0, 5, "virbr") == 0;
    if (isLoopback) {
      if (loopback.family == 0) {
        loopback = a;
        loopbackName = name;
      }
    } else if (!isVirtual && chosen.family == 0) {
      chosen = a;
      chosenName = name;
    }
  }
  freeifaddrs(list);
  if (chosen.family == 0 && filter.empty()) {
    chosen = loopback;
    chosenName = loopbackName;
  }
  if (chosen.family == 0) {
    fail(braidSystemError, "no usable network interface",
         filter.empty() ? std::string() : " matches BRAID_SOCKET_IFNAME='" + filter + "'");
  }
  *ifname = chosenName;
  return chosen;
}

void setNonBlocking(int fd, bool on) {
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

Fd listenOn(SockAddr* addr, int backlog) {
  Fd fd(socket(addr->family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) fail(braidSystemError, errnoText("socket", errno));
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  socklen_t len = 0;
  sockaddr_storage ss = addr->toSockaddr(&len);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    fail(braidSystemError, errnoText("bind", errno), " (", addr->str(), ")");
  }
  if (listen(fd.get(), backlog) != 0) fail(braidSystemError, errnoText("listen", errno));
  len = sizeof(ss);
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
  addr->port = SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss)).port;
  setNonBlocking(fd.get(), true);
  return fd;
}

Fd connectTo(const SockAddr& addr, const Deadline& deadline, const std::string& what) {
  int backoffMs = 1;
  for (;;) {
    Fd fd(socket(addr.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) fail(braidSystemError, errnoText("socket", errno));
    socklen_t len = 0;
    sockaddr_storage ss = addr.toSockaddr(&len);
    int rc = connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      pollfd p{fd.get(), POLLOUT, 0};
      while (poll(&p, 1, deadline.pollTimeoutMs()) == 0)
        deadline.check(what);
      socklen_t errLen = sizeof(err);
      getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &errLen);
    }
    if (err == 0) {
      setNoDelay(fd.get());
      return fd;
    }
    if (err != ECONNREFUSED && err != ETIMEDOUT && err != ECONNRESET && err != EAGAIN) {
      fail(braidSystemError, what, ": ", errnoText("connect", err), " (", addr.str(), ")");
    }
    deadline.check(what + " (" + addr.str() + ": " + strerror(err) + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(backoffMs));
    backoffMs = std::min(backoffMs * 2, 100);
  }
}

Fd acceptOne(int listenFd, const Deadline& deadline) {
  pollfd p{listenFd, POLLIN, 0};
  int rc = poll(&p, 1, deadline.pollTimeoutMs());
  if (rc <= 0) return Fd();
  Fd fd(accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
  if (fd.valid()) setNoDelay(fd.get());
  return fd;
}

void sendAll(int fd, const void* data, size_t bytes, const Deadline& deadline,
             const std::string& what) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    ssize_t n = ::send(fd, p, bytes, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      fail(braidRemoteError, what, ": ", errnoText("send", errno));
    }
    pollfd pf{fd, POLLOUT, 0};
    if (poll(&pf, 1, deadline.pollTimeoutMs()) == 0) deadline.check(what);
  }
}

void recvAll(int fd, void* data, size_t bytes, const Deadline& deadline, const std::string& what) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    ssize_t n = ::recv(fd, p, bytes, MSG_DONTWAIT);
    if (n > 0) {
      p += n;
      bytes -= static_cast<size_t>(n);
      continue;
    }
    if (n == 0) fail(braidRemoteError, what, ": connection closed by the peer");
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      fail(braidRemoteError, what, ": ", errnoText("recv", errno));
    }
    pollfd pf{fd, POLLIN, 0};
    if (poll(&pf, 1, deadline.pollTimeoutMs()) == 0) deadline.check(what);
  }
}

}  // namespace braid
