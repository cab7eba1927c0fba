// The cost model's constants and each algorithm family's cost along its critical path. Symbols:
// n ranks, m the message's bytes, p the largest power of two <= n, L = log2 of a tree's fan-in,
// step(b) = one message of b bytes (latency, ramp, then the rate of its path: direct, or staged
// in an exchange where every rank sends and combines at once), and a pipelined transfer of b bytes
// is one such message per chunk. The formulas follow what each algorithm's code does (its header
// comment).
#include "algorithms/cost_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "core/params.h"

namespace braid {

namespace {

// The medians of three `braid-info --calibrate` runs on the development machine (2 vCPUs,
// loopback only). It has no RDMA hardware, so ib's values are not measured: they only rank ib's
// choices as a link with lower latency than tcp's.
CostConstants builtIn() {
  CostConstants c;
  c.shm = {0.393, 8610, 29500, 8680, 4690};
  c.tcp = {2.90, 4300, 8780, 5040, 3960};
  c.ib = {4.0, 3000, 3000, 3000, 3000};
  c.reduceBytesPerUs = 7980;
  c.reduceCacheBytesPerUs = 43800;
  c.cacheBytes = 2 << 20;
  c.source = "built-in";
  return c;
}

double* field(CostConstants& c, const std::string& key) {
  struct Key {
    const char* name;
    double CostConstants::*scalar;
    LinkConstants CostConstants::*link;
    double LinkConstants::*value;
  };
  static const Key kKeys[] = {
      {"shm.latency_us", nullptr, &CostConstants::shm, &LinkConstants::latencyUs},
      {"shm.gbps", nullptr, &CostConstants::shm, &LinkConstants::bytesPerUs},
      {"shm.cache_gbps", nullptr, &CostConstants::shm, &LinkConstants::cacheBytesPerUs},
      {"shm.staged_cache_gbps", nullptr, &CostConstants::shm,
       &LinkConstants::stagedCacheBytesPerUs},
      {"shm.ramp_gbps", nullptr, &CostConstants::shm, &LinkConstants::rampBytesPerUs},
      {"tcp.latency_us", nullptr, &CostConstants::tcp, &LinkConstants::latencyUs},
      {"tcp.gbps", nullptr, &CostConstants::tcp, &LinkConstants::bytesPerUs},
      {"tcp.cache_gbps", nullptr, &CostConstants::tcp, &LinkConstants::cacheBytesPerUs},
      {"tcp.staged_cache_gbps", nullptr, &CostConstants::tcp,
       &LinkConstants::stagedCacheBytesPerUs},
      {"tcp.ramp_gbps", nullptr, &CostConstants::tcp, &LinkConstants::rampBytesPerUs},
      {"ib.latency_us", nullptr, &CostConstants::ib, &LinkConstants::latencyUs},
      {"ib.gbps", nullptr, &CostConstants::ib, &LinkConstants::bytesPerUs},
      {"ib.cache_gbps", nullptr, &CostConstants::ib, &LinkConstants::cacheBytesPerUs},
      {"ib.staged_cache_gbps", nullptr, &CostConstants::ib, &LinkConstants::stagedCacheBytesPerUs},
      {"ib.ramp_gbps", nullptr, &CostConstants::ib, &LinkConstants::rampBytesPerUs},
      {"reduce.gbps", &CostConstants::reduceBytesPerUs, nullptr, nullptr},
      {"reduce.cache_gbps", &CostConstants::reduceCacheBytesPerUs, nullptr, nullptr},
      {"cache_kib", &CostConstants::cacheBytes, nullptr, nullptr},
  };
  for (const Key& k : kKeys) {
    if (key != k.name) continue;
    if (k.scalar != nullptr) return &(c.*k.scalar);
    return &(c.*k.link.*k.value);
  }
  return nullptr;
}

std::string trimmed(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

// key=value; bandwidths are written in GB/s and kept in bytes/us (the same number x 1000).
void apply(CostConstants& c, const std::string& text, const std::string& where) {
  size_t eq = text.find('=');
  std::string key = trimmed(text.substr(0, eq));
  double* f = eq == std::string::npos ? nullptr : field(c, key);
  if (f == nullptr) {
    fail(braidInvalidArgument, where, ": '", text,
         "' is not key=value with a key of shm|tcp|ib.latency_us, shm|tcp|ib.gbps, "
         "shm|tcp|ib.cache_gbps, shm|tcp|ib.staged_cache_gbps, shm|tcp|ib.ramp_gbps, "
         "reduce.gbps, reduce.cache_gbps, cache_kib");
  }
  std::string value = trimmed(text.substr(eq + 1));
  char* end = nullptr;
  double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v)) {
    fail(braidInvalidArgument, where, ": '", text, "' needs a positive number");
  }
  *f = key.find("gbps") != std::string::npos ? v * 1000 : key == "cache_kib" ? v * 1024 : v;
}

int ceilLog2(int n) {
  int l = 0;
  while ((1 << l) < n)
    ++l;
  return l;
}

int floorPow2(int n) {
  int p = 1;
  while (p * 2 <= n)
    p *= 2;
  return p;
}

// kDirect: into the receiver's buffer; kStaged: an exchange's, every rank sending and combining.
enum class Path { kDirect, kStaged };

// One message of `bytes`.
double step(const LinkCost& l, double bytes, Path path = Path::kDirect) {
  double first = std::min(bytes, kRampBytes);
  double rate = path == Path::kStaged ? l.stagedBytesPerUs : l.bytesPerUs;
  return l.latencyUs + first / l.rampBytesPerUs + (bytes - first) / rate;
}

// b bytes sent as chunks of at most `chunk`, back to back.
double pipelined(const LinkCost& l, double bytes, size_t chunk, Path path = Path::kDirect) {
  double chunks = std::max(1.0, std::ceil(bytes / static_cast<double>(chunk)));
  return chunks * step(l, bytes / chunks, path);
}

constexpr double kNever = std::numeric_limits<double>::infinity();

// Recursive halving (then, for allreduce, doubling back) over p ranks of `link`, plus the
// pairing steps that fold the other n - p ranks in and out.
double halvingDoubling(const CostInputs& in, int n, const LinkCost& link, bool allreduce) {
  int p = floorPow2(n);
  double m = static_cast<double>(in.bytes);
  double t = 0;
  for (int half = 2; half <= p; half *= 2) {
    double b = m / half;  // each step swaps half of what the last one did
    t += pipelined(link, b, in.chunkBytes, Path::kStaged) + b / in.reduceBytesPerUs;
    if (allreduce) t += pipelined(link, b, in.chunkBytes);
  }
  if (n != p) {
    t += step(link, m, Path::kStaged) + m / in.reduceBytesPerUs;
    if (allreduce) t += step(link, m);
  }
  return t;
}

}  // namespace

CostConstants loadCostConstants(const std::string& file, const std::string& overrides) {
  CostConstants c = builtIn();
  if (!file.empty()) {
    std::ifstream f(file);
    if (!f) fail(braidInvalidArgument, "BRAID_TUNING_FILE ", file, " cannot be read");
    std::string line;
    for (int number = 1; std::getline(f, line); ++number) {
      line = trimmed(line.substr(0, line.find('#')));
      if (!line.empty()) apply(c, line, file + ":" + std::to_string(number));
    }
    c.source = file;
  }
  if (!overrides.empty()) {
    std::stringstream list(overrides);
    std::string item;
    while (std::getline(list, item, ','))
      apply(c, trimmed(item), "BRAID_TUNING");
    c.source += " + BRAID_TUNING";
  }
  return c;
}

const CostConstants& costConstants() {
  static const CostConstants c =
      loadCostConstants(paramString("BRAID_TUNING_FILE"), paramString("BRAID_TUNING"));
  return c;
}

std::string formatLinkConstants(const std::string& name, const LinkConstants& l) {
  char line[256];
  const char* n = name.c_str();
  snprintf(line, sizeof(line),
           "%s.latency_us=%.3g\n%s.gbps=%.3g\n%s.cache_gbps=%.3g\n%s.staged_cache_gbps=%.3g\n"
           "%s.ramp_gbps=%.3g\n",
           n, l.latencyUs, n, l.bytesPerUs / 1000, n, l.cacheBytesPerUs / 1000, n,
           l.stagedCacheBytesPerUs / 1000, n, l.rampBytesPerUs / 1000);
  return line;
}

std::string formatCostConstants(const CostConstants& c) {
  std::string text = formatLinkConstants("shm", c.shm) + formatLinkConstants("tcp", c.tcp) +
                     formatLinkConstants("ib", c.ib);
  char line[256];
  snprintf(line, sizeof(line), "reduce.gbps=%.3g\nreduce.cache_gbps=%.3g\ncache_kib=%.0f\n",
           c.reduceBytesPerUs / 1000, c.reduceCacheBytesPerUs / 1000, c.cacheBytes / 1024);
  return text + line;
}

double cacheShare(const CostConstants& c, size_t bytes) {
  double working = 2 * static_cast<double>(std::max<size_t>(bytes, 1));  // input and output
  return std::clamp(std::log2(2 * c.cacheBytes / working) / 2, 0.0, 1.0);
}

namespace {

double blend(double share, double cacheRate, double memoryRate) {
  return 1 / (share / cacheRate + (1 - share) / memoryRate);
}

}  // namespace

LinkCost linkCost(const CostConstants& c, const std::string& transport, size_t bytes,
                  double ranksPerCore) {
  const LinkConstants& l = transport == "shm" ? c.shm : transport == "ib" ? c.ib : c.tcp;
  double share = cacheShare(c, bytes);
  double f = ranksPerCore;
  return {l.latencyUs * f * f, blend(share, l.cacheBytesPerUs, l.bytesPerUs) / f,
          blend(share, l.stagedCacheBytesPerUs, l.bytesPerUs) / f, l.rampBytesPerUs / f};
}

double reduceRate(const CostConstants& c, size_t bytes, double ranksPerCore) {
  return blend(cacheShare(c, bytes), c.reduceCacheBytesPerUs, c.reduceBytesPerUs) / ranksPerCore;
}

double ringCost(const CostInputs& in) {
  int n = in.nranks;
  if (n == 1) return 0;
  double block = static_cast<double>(in.bytes) / n;
  double scatter = (n - 1) * pipelined(in.flat, block, in.chunkBytes, Path::kStaged);
  double gather = (n - 1) * pipelined(in.flat, block, in.chunkBytes);
  double combine = (n - 1) * block / in.reduceBytesPerUs;
  switch (in.kind) {
    case OpKind::kAllReduce:
      return scatter + combine + gather;
    case OpKind::kReduceScatter:
      return scatter + combine;
    default:
      return gather;
  }
}

double recursiveDoublingCost(const CostInputs& in) {
  int n = in.nranks;
  if (n == 1) return 0;
  int p = floorPow2(n);
  double m = static_cast<double>(in.bytes);
  double exchange = step(in.flat, m, Path::kStaged) + m / in.reduceBytesPerUs;
  double fold = step(in.flat, m, Path::kStaged) + m / in.reduceBytesPerUs + step(in.flat, m);
  return ceilLog2(p) * exchange + (n != p ? fold : 0);
}

double halvingDoublingCost(const CostInputs& in) {
  if (in.nranks == 1) return 0;
  return halvingDoubling(in, in.nranks, in.flat, in.kind == OpKind::kAllReduce);
}

double doubleBinaryTreeCost(const CostInputs& in) {
  if (in.nranks == 1) return 0;
  // Each tree carries half the data up (reduce) and down (broadcast); every rank works in both
  // trees at once, so each pipeline stage moves one chunk of each.
  double half = static_cast<double>(in.bytes) / 2;
  double chunks = std::max(1.0, std::ceil(half / static_cast<double>(in.chunkBytes)));
  double depth = std::max(1, ceilLog2(in.nranks + 1) - 1);
  double stage = step(in.flat, 4 * half / chunks, Path::kStaged);
  return (2 * depth + chunks - 1) * stage + 2 * half / in.reduceBytesPerUs;
}

double hierarchicalCost(const CostInputs& in) {
  if (in.hosts <= 1 || in.hosts == in.nranks) return kNever;  // it is a plain tree then
  int perHost = (in.nranks + in.hosts - 1) / in.hosts;
  double m = static_cast<double>(in.bytes);
  double inside = ceilLog2(perHost) * pipelined(in.inside, m, in.chunkBytes);
  double combine = ceilLog2(perHost) * m / in.reduceBytesPerUs;
  double across = ceilLog2(in.hosts) * pipelined(in.across, m, in.chunkBytes);
  switch (in.kind) {
    case OpKind::kAllReduce:
      return 2 * inside + combine + halvingDoubling(in, in.hosts, in.across, true);
    case OpKind::kBroadcast:
      return across + inside;
    case OpKind::kAllGather: {
      // The representative takes its host's blocks in turn, the ring across hosts passes one
      // host's blocks per step, and the whole output goes down each host's tree.
      double block = m / in.nranks;
      double gather = (perHost - 1) * step(in.inside, block);
      double ring = (in.hosts - 1) * pipelined(in.across, block * perHost, in.chunkBytes);
      return gather + ring + inside;
    }
    default:
      return inside + combine + across + ceilLog2(in.hosts) * m / in.reduceBytesPerUs;
  }
}

double bruckCost(const CostInputs& in) {
  int n = in.nranks;
  if (n == 1) return 0;
  double block = static_cast<double>(in.bytes) / n;
  double t = 0;
  for (int have = 1; have < n; have *= 2)
    t += pipelined(in.flat, block * std::min(have, n - have), in.chunkBytes);
  return t;
}

double binomialCost(const CostInputs& in) {
  double m = static_cast<double>(in.bytes);
  double hop = pipelined(in.flat, m, in.chunkBytes);
  if (in.kind == OpKind::kReduce) {
    // The parent combines chunk i while the child sends chunk i + 1: the slower of the two sets
    // the pace, and the other adds one chunk's worth.
    double chunk = std::min(m, static_cast<double>(in.chunkBytes));
    double combine = m / in.reduceBytesPerUs;
    hop = std::max(hop, combine) + chunk / std::max(in.reduceBytesPerUs, in.flat.bytesPerUs);
  }
  return ceilLog2(in.nranks) * hop;  // the root serves each of its children in turn
}

double chainCost(const CostInputs& in) {
  int n = in.nranks;
  if (n == 1) return 0;
  double m = static_cast<double>(in.bytes);
  double chunks = std::max(1.0, std::ceil(m / static_cast<double>(in.chunkBytes)));
  double stage = step(in.flat, m / chunks);
  // Each rank combines a chunk while its predecessor sends the next: the slower sets the pace.
  if (in.kind == OpKind::kReduce) stage = std::max(stage, m / chunks / in.reduceBytesPerUs);
  return (n - 2 + chunks) * stage;
}

double onlyChoiceCost(const CostInputs&) {
  return 0;
}

}  // namespace braid
