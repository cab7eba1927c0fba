// The BRAID_* registry and its readers. Add a setting here, and only here.
#include "core/params.h"

#include <cstdlib>
#include <limits>

#include "core/error.h"

namespace braid {

namespace {

constexpr ParamSpec kParams[] = {
    {"BRAID_COMM_ID", "",
     "host:port of the rendezvous root for braidCommInitFromEnv (rank 0 listens there)"},
    {"BRAID_DEBUG", "WARN", "log level: NONE, WARN, INFO or TRACE"},
    {"BRAID_DEBUG_SUBSYS", "ALL",
     "comma list of subsystems to log: INIT, BOOT, NET, COLL, P2P, TUNING, ENV, ALL; ^ excludes"},
    {"BRAID_DEBUG_FILE", "",
     "write log lines to this file instead of stderr; %h is the host name, %p the pid"},
    {"BRAID_TIMEOUT_MS", "600000",
     "limit in ms for every wait (peer arrival, data, connection); 0 waits forever"},
    {"BRAID_SOCKET_IFNAME", "",
     "network interfaces to use: prefix list (eth,ib), ^ excludes, = exact; default: first up "
     "non-loopback interface, else loopback"},
    {"BRAID_SOCKET_FAMILY", "", "address family for sockets: 4 (IPv4), 6 (IPv6) or empty (any)"},
    {"BRAID_SOCKET_NSTREAMS", "2",
     "TCP connections per peer that large messages are striped over (1-16)"},
    {"BRAID_CHUNK_SIZE", "512K", "bytes per pipelined chunk in ring, chain and tree algorithms"},
    {"BRAID_SHM_SINGLE_COPY_MIN", "",
     "shm: in operations of at least this many bytes (the benchmarks' size), messages that land in "
     "the receiver's buffer are read straight from the sender's memory (process_vm_readv: one "
     "copy instead of two); 0: never; unset: 16K, or 256K where ranks share cores"},
    {"BRAID_SHM_SINGLE_COPY_MAX", "0", "shm: ... and of at most this many; 0: no limit"},
    {"BRAID_NSLOTS", "4", "staging slots per connection and direction (pipeline depth)"},
    {"BRAID_ALGO", "",
     "force algorithms, rules joined by ;: name, coll=name or coll:lo-hi=name,lo-hi=name (bytes, "
     "K/M/G, hi may be inf); see Choosing algorithms"},
    {"BRAID_TUNING_FILE", "",
     "cost-model constants to use (written by braid-info --calibrate); default: built-in"},
    {"BRAID_TUNING", "",
     "override cost-model constants: key=value,... (keys as in braid-info --tuning, e.g. "
     "shm.latency_us=0.4,tcp.gbps=2.5)"},
    {"BRAID_TRANSPORT", "",
     "force the transport for every peer: tcp, shm (same host only) or ib (a verbs port on both "
     "sides)"},
    {"BRAID_SHM_DISABLE", "0", "1: never use shared memory; peers on the same host use tcp"},
    {"BRAID_IB_DISABLE", "0", "1: never use verbs (InfiniBand/RoCE); peers on other hosts use tcp"},
    {"BRAID_IB_HCA", "",
     "verbs devices to use: prefix list with optional ports (mlx5_0:1,mlx5_1), ^ excludes, = "
     "exact; default: the first active port, on the device nearest this process's NUMA node"},
    {"BRAID_IB_GID_INDEX", "-1",
     "RoCE GID index to use; -1 scans the GID table for RoCE v2 with an IPv4-mapped address"},
    {"BRAID_IB_TIMEOUT", "18",
     "verbs ACK timeout exponent: 4.096 us x 2^N before a packet is retransmitted (1-31)"},
    {"BRAID_IB_RETRY_CNT", "7", "verbs retransmissions before a queue pair fails (0-7)"},
    {"BRAID_HOSTID", "",
     "this rank's host identity (default: host name + boot id); ranks with different values "
     "never share memory"},
    {"BRAID_TOPO_FILE", "",
     "hwloc XML file to use as this machine's topology instead of discovering it (needs hwloc)"},
    {"BRAID_TOPO_DUMP_FILE", "",
     "write the topology hwloc sees (or loaded from BRAID_TOPO_FILE) to this XML file"},
};

const ParamSpec& find(std::string_view name) {
  for (const ParamSpec& p : kParams) {
    if (name == p.name) return p;
  }
  fail(braidInternalError, "unknown parameter ", name);
}

}  // namespace

std::span<const ParamSpec> allParams() {
  return kParams;
}

std::string paramString(std::string_view name) {
  const ParamSpec& p = find(name);
  const char* v = std::getenv(p.name);
  return v != nullptr ? std::string(v) : std::string(p.defaultValue);
}

bool parseSize(std::string_view text, int64_t* value) {
  if (text.empty()) return false;
  bool negative = text.front() == '-';
  if (negative) text.remove_prefix(1);
  int64_t scale = 1;
  switch (text.empty() ? '\0' : text.back()) {
    case 'k':
    case 'K':
      scale = int64_t{1} << 10;
      break;
    case 'm':
    case 'M':
      scale = int64_t{1} << 20;
      break;
    case 'g':
    case 'G':
      scale = int64_t{1} << 30;
      break;
    default:
      break;
  }
  if (scale != 1) text.remove_suffix(1);
  if (text.empty()) return false;
  int64_t n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    if (n > (std::numeric_limits<int64_t>::max() - 9) / 10) return false;
    n = n * 10 + (c - '0');
  }
  if (n > std::numeric_limits<int64_t>::max() / scale) return false;
  *value = (negative ? -n : n) * scale;
  return true;
}

int64_t paramInt(std::string_view name) {
  std::string v = paramString(name);
  int64_t n = 0;
  if (!parseSize(v, &n)) {
    fail(braidInvalidArgument, name, "='", v, "' is not an integer (K/M/G suffixes allowed)");
  }
  return n;
}

}  // namespace braid
