// Unit tests for the small grammars users type: sizes with suffixes, BRAID_SOCKET_IFNAME filters,
// host:port addresses, settings validation, and the block arithmetic both ends of a ring share.
#include <gtest/gtest.h>

#include <cstdlib>

#include "algorithms/chunks.h"
#include "core/comm.h"
#include "core/params.h"
#include "transport/socket.h"

namespace braid {
namespace {

TEST(ParseSize, AcceptsPlainAndBinarySuffixes) {
  int64_t v = 0;
  ASSERT_TRUE(parseSize("123", &v));
  EXPECT_EQ(v, 123);
  ASSERT_TRUE(parseSize("64K", &v));
  EXPECT_EQ(v, 65536);
  ASSERT_TRUE(parseSize("1m", &v));
  EXPECT_EQ(v, 1 << 20);
  ASSERT_TRUE(parseSize("2G", &v));
  EXPECT_EQ(v, int64_t{2} << 30);
  ASSERT_TRUE(parseSize("-5", &v));
  EXPECT_EQ(v, -5);
}

TEST(ParseSize, RejectsMalformedAndOverflowing) {
  int64_t v = 0;
  for (const char* bad : {"", "K", "12x", "1.5", "--1", "99999999999999999999", "9999999999G"}) {
    EXPECT_FALSE(parseSize(bad, &v)) << bad;
  }
}

TEST(InterfaceFilter, PrefixExcludeAndExact) {
  EXPECT_TRUE(interfaceMatches("", "eth0"));
  EXPECT_TRUE(interfaceMatches("eth", "eth0"));
  EXPECT_TRUE(interfaceMatches("ib,eth", "eth1"));
  EXPECT_FALSE(interfaceMatches("ib", "eth0"));
  EXPECT_FALSE(interfaceMatches("^eth", "eth0"));
  EXPECT_TRUE(interfaceMatches("^docker,lo", "eth0"));
  EXPECT_FALSE(interfaceMatches("^docker,lo", "lo"));
  EXPECT_TRUE(interfaceMatches("=eth0", "eth0"));
  EXPECT_FALSE(interfaceMatches("=eth0", "eth01"));
  EXPECT_FALSE(interfaceMatches("^=eth0", "eth0"));
  EXPECT_TRUE(interfaceMatches("^=eth0", "eth01"));
}

TEST(HostPort, ParsesIpv4Ipv6AndRejectsGarbage) {
  SockAddr a = parseHostPort("127.0.0.1:29500");
  EXPECT_EQ(a.family, AF_INET);
  EXPECT_EQ(a.port, 29500);
  EXPECT_EQ(a.str(), "127.0.0.1:29500");
  SockAddr b = parseHostPort("[::1]:80");
  EXPECT_EQ(b.family, AF_INET6);
  EXPECT_EQ(b.str(), "[::1]:80");
  for (const char* bad :
       {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":80", "[::1]80", "127.0.0.1:http"}) {
    EXPECT_THROW(parseHostPort(bad), Error) << bad;
  }
}

TEST(Settings, RejectsBadEnvironmentValuesByName) {
  setenv("BRAID_TIMEOUT_MS", "soon", 1);
  try {
    CommSettings::fromEnvironment(nullptr);
    ADD_FAILURE() << "no error for BRAID_TIMEOUT_MS=soon";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), braidInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("BRAID_TIMEOUT_MS"), std::string::npos);
  }
  unsetenv("BRAID_TIMEOUT_MS");
  setenv("BRAID_SOCKET_NSTREAMS", "0", 1);
  EXPECT_THROW(CommSettings::fromEnvironment(nullptr), Error);
  unsetenv("BRAID_SOCKET_NSTREAMS");
  setenv("BRAID_TRANSPORT", "carrier-pigeon", 1);
  EXPECT_THROW(CommSettings::fromEnvironment(nullptr), Error);
  unsetenv("BRAID_TRANSPORT");
  braidConfig_t config = BRAID_CONFIG_INITIALIZER;
  config.timeoutMs = 1234;
  config.commName = "grads";
  CommSettings s = CommSettings::fromEnvironment(&config);
  EXPECT_EQ(s.timeoutMs, 1234);
  EXPECT_EQ(s.name, "grads");
  config.magic = 0;
  EXPECT_THROW(CommSettings::fromEnvironment(&config), Error);
}

TEST(Blocks, CoverTheBufferInOrderWithSizesDifferingByAtMostOne) {
  for (size_t count : {0, 1, 7, 8, 1023, 1000003}) {
    for (int n : {1, 2, 3, 7, 8}) {
      Blocks b{count, n};
      size_t next = 0;
      for (int i = 0; i < n; ++i) {
        EXPECT_EQ(b.offset(i), next) << count << "/" << n;
        EXPECT_LE(b.size(0) - b.size(i), 1u);
        next += b.size(i);
      }
      EXPECT_EQ(next, count);
    }
  }
}

TEST(OpHeader, DescribesTheCallForErrorMessages) {
  OpHeader h;
  h.kind = OpKind::kAllReduce;
  h.seq = 7;
  h.count = 100;
  h.type = braidFloat32;
  h.op = braidSum;
  EXPECT_EQ(h.describe(), "braidAllReduce #7 (count 100, float32, sum)");
  h.kind = OpKind::kBroadcast;
  h.root = 2;
  EXPECT_EQ(h.describe(), "braidBroadcast #7 (count 100, float32, root 2)");
}

}  // namespace
}  // namespace braid
