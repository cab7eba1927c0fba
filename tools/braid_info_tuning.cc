// braid-info --tuning and --calibrate: the cost model's predictions, and the measurement of its
// constants on this machine.
#include "braid_info_tuning.h"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/cost_model.h"
#include "collectives/braid.h"
#include "core/comm.h"
#include "core/error.h"
#include "reduce/reduce.h"

namespace {

constexpr braid::OpKind kTunedKinds[] = {braid::OpKind::kAllReduce, braid::OpKind::kReduceScatter,
                                         braid::OpKind::kAllGather, braid::OpKind::kBroadcast,
                                         braid::OpKind::kReduce};

std::string sizeText(size_t b) {
  const char* unit[] = {"B", "KiB", "MiB", "GiB"};
  int u = 0;
  while (b >= 1024 && b % 1024 == 0 && u < 3) {
    b /= 1024;
    ++u;
  }
  return std::to_string(b) + " " + unit[u];
}

struct TuningOptions {
  int ranks = 2;
  int hosts = 1;
  std::string inside = "shm";
  std::string across = "tcp";
  bool tsv = false;
};

bool parseTuningOptions(int argc, char** argv, TuningOptions* o) {
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--tsv") {
      o->tsv = true;
    } else if (v != nullptr && a == "--ranks") {
      o->ranks = std::atoi(v), ++i;
    } else if (v != nullptr && a == "--hosts") {
      o->hosts = std::atoi(v), ++i;
    } else if (v != nullptr && a == "--inside") {
      o->inside = v, ++i;
    } else if (v != nullptr && a == "--across") {
      o->across = v, ++i;
    } else {
      return false;
    }
  }
  return o->ranks >= 1 && o->hosts >= 1 && o->hosts <= o->ranks;
}

// 2 ranks timing allreduce or broadcast with one algorithm over one transport: us per call.
double timeCallUs(const char* transport, const char* algo, braid::OpKind kind, size_t bytes,
                  int iters) {
  braidUniqueId id;
  if (braidGetUniqueId(&id) != braidSuccess) braid::fail(braidSystemError, "braidGetUniqueId");
  size_t count = bytes / sizeof(float);
  double us = 0;
  auto rank = [&](int r) {
    braidConfig_t config = BRAID_CONFIG_INITIALIZER;
    config.transport = transport;
    config.algo = algo;
    config.timeoutMs = 30000;  // a failed peer ends the measurement instead of hanging it
    braidComm_t comm = nullptr;
    if (braidCommInitRankConfig(&comm, 2, id, r, &config) != braidSuccess) return;
    std::vector<float> in(count, 1.0f), out(count);
    auto run = [&](int n) {
      for (int i = 0; i < n; ++i) {
        if (kind == braid::OpKind::kAllReduce) {
          braidAllReduce(in.data(), out.data(), count, braidFloat32, braidSum, comm, nullptr);
        } else {
          braidBroadcast(in.data(), out.data(), count, braidFloat32, 0, comm, nullptr);
        }
      }
    };
    run(iters / 10 + 2);
    auto t0 = std::chrono::steady_clock::now();
    run(iters);
    auto t1 = std::chrono::steady_clock::now();
    if (r == 0) us = std::chrono::duration<double, std::micro>(t1 - t0).count() / iters;
    braidCommDestroy(comm);
  };
  // The peer is a child process, as ranks usually are (threads would share the library's locks).
  pid_t child = fork();
  if (child < 0) braid::fail(braidSystemError, "fork failed");
  if (child == 0) {
    rank(1);
    _exit(0);
  }
  rank(0);
  int status = 0;
  waitpid(child, &status, 0);
  if (us <= 0) braid::fail(braidSystemError, "calibration over ", transport, " failed");
  return us;
}

// The machine's noise comes in bursts: the median of five short runs.
template <typename F>
double median5(F&& measure) {
  std::vector<double> v;
  for (int i = 0; i < 5; ++i)
    v.push_back(measure());
  std::sort(v.begin(), v.end());
  return v[2];
}

// The two sizes each rate is measured at: one whose buffers stream from memory, one whose
// buffers stay in one core's cache.
constexpr size_t kLarge = 32u << 20;
constexpr size_t kCached = 128u << 10;

// Bytes of one input combined per us: float sum of `bytes`.
double measureReduce(size_t bytes) {
  size_t count = bytes / sizeof(float);
  std::vector<float> a(count, 1.0f), b(count, 2.0f), out(count);
  int iters = static_cast<int>(std::max<size_t>(4, (256u << 20) / bytes));
  braid::reduce(out.data(), a.data(), b.data(), count, braidFloat32, braidSum, 1);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i)
    braid::reduce(out.data(), a.data(), b.data(), count, braidFloat32, braidSum, 1);
  auto t1 = std::chrono::steady_clock::now();
  return static_cast<double>(bytes) * iters /
         std::chrono::duration<double, std::micro>(t1 - t0).count();
}

// Between 2 ranks: the latency is one recursive-doubling step at 8 B; the ramp rate comes from a
// broadcast (one transfer) of 2 KiB, the direct rates from broadcasts at kLarge and kCached,
// the staged one from a recursive-doubling step at kCached (an exchange each rank combines from
// its slots), each less the parts already known.
// `time(algo, kind, bytes, iters)` runs one measurement between the 2 ranks: us per call.
template <typename Time>
braid::LinkConstants measureLink(Time&& time, size_t chunkBytes, double reduceCacheBytesPerUs) {
  auto timed = [&](const char* algo, braid::OpKind kind, size_t bytes, int iters) {
    return median5([&] { return time(algo, kind, bytes, iters); });
  };
  constexpr double kRamp = braid::kRampBytes;
  double small = timed("recdbl", braid::OpKind::kAllReduce, 8, 4000);
  auto rate = [&](double bytes, double us) { return bytes / std::max(us, small / 10); };
  double ramp = rate(2048, timed("tree", braid::OpKind::kBroadcast, 2048, 4000) - small);
  double perChunk = small + kRamp / ramp;
  auto bandwidth = [&](size_t bytes, int iters) {
    double us = timed("tree", braid::OpKind::kBroadcast, bytes, iters);
    double chunks = std::ceil(static_cast<double>(bytes) / static_cast<double>(chunkBytes));
    return rate(static_cast<double>(bytes) - chunks * kRamp, us - chunks * perChunk);
  };
  double cached = static_cast<double>(kCached);
  double exchange = timed("recdbl", braid::OpKind::kAllReduce, kCached, 400);
  double staged = rate(cached - kRamp, exchange - perChunk - cached / reduceCacheBytesPerUs);
  return {small, bandwidth(kLarge, 10), bandwidth(kCached, 400), staged, ramp};
}

}  // namespace

int printTuning(int argc, char** argv) {
  TuningOptions o;
  if (!parseTuningOptions(argc, argv, &o)) {
    fprintf(stderr,
            "usage: braid-info --tuning [--ranks N] [--hosts H] [--inside shm|tcp|ib] "
            "[--across tcp|ib] [--tsv]\n");
    return 2;
  }
  const braid::CostConstants& k = braid::costConstants();
  braid::CostInputs in{};
  in.nranks = o.ranks;
  in.hosts = o.hosts;
  in.chunkBytes = braid::CommSettings::fromEnvironment(nullptr).chunkBytes;
  // As the library reckons it: each host's ranks against the CPUs they may run on (this
  // process's, as if every rank were started like it).
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  long cpus = sched_getaffinity(0, sizeof(allowed), &allowed) == 0 ? CPU_COUNT(&allowed)
                                                                   : sysconf(_SC_NPROCESSORS_ONLN);
  double perHost = std::ceil(static_cast<double>(o.ranks) / o.hosts);
  double perCore = std::max(1.0, perHost / static_cast<double>(std::max(1L, cpus)));
  if (!o.tsv) {
    printf("cost model constants (%s):\n%s\n", k.source.c_str(),
           braid::formatCostConstants(k).c_str());
    printf(
        "predicted us per call, %d ranks on %d host(s): inside %s, across %s; chunk %zu; %.3g "
        "ranks per core\n",
        o.ranks, o.hosts, o.inside.c_str(), o.hosts > 1 ? o.across.c_str() : "-", in.chunkBytes,
        perCore);
  }
  for (braid::OpKind kind : kTunedKinds) {
    in.kind = kind;
    std::vector<const braid::Algorithm*> serving;
    for (const braid::Algorithm& a : braid::algorithms()) {
      if (a.serves(kind)) serving.push_back(&a);
    }
    if (!o.tsv) {
      printf("\n%-10s", braid::opKindName(kind));
      for (const braid::Algorithm* a : serving)
        printf(" %13s", a->name);
      printf("   choice\n");
    }
    for (size_t bytes = 8; bytes <= (256u << 20); bytes *= 4) {
      in.bytes = bytes;
      in.inside = braid::linkCost(k, o.inside, bytes, perCore);
      in.across = o.hosts > 1 ? braid::linkCost(k, o.across, bytes, perCore) : in.inside;
      in.flat = in.across;
      in.reduceBytesPerUs = braid::reduceRate(k, bytes, perCore);
      const braid::Algorithm* best = nullptr;
      double bestUs = 0;
      if (!o.tsv) printf("%-10s", sizeText(bytes).c_str());
      for (const braid::Algorithm* a : serving) {
        double us = a->cost(in);
        if (best == nullptr || braid::predictedFaster(us, bestUs)) best = a, bestUs = us;
        if (o.tsv) {
          printf("%s\t%s\t%zu\t%.4g\n", braid::opKindName(kind), a->name, bytes, us);
        } else if (std::isinf(us)) {
          printf(" %13s", "-");
        } else {
          printf(" %13.4g", us);
        }
      }
      if (!o.tsv) printf("   %s\n", best->name);
    }
  }
  return 0;
}

int calibrate(const char* file) {
  try {
    braid::CostConstants c = braid::loadCostConstants("", "");
    long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (l2 > 0) c.cacheBytes = static_cast<double>(l2);
    size_t chunk = braid::CommSettings::fromEnvironment(nullptr).chunkBytes;
    printf("measuring the reduction rate (32 MiB and 128 KiB)...\n");
    c.reduceBytesPerUs = median5([] { return measureReduce(kLarge); });
    c.reduceCacheBytesPerUs = median5([] { return measureReduce(kCached); });
    printf(
        "measuring shm (2 ranks: recursive doubling at 8 B and 128 KiB, broadcast at 2 KiB, 128 "
        "KiB and 32 MiB)...\n");
    auto over = [](const char* transport) {
      return [transport](const char* algo, braid::OpKind kind, size_t bytes, int iters) {
        return timeCallUs(transport, algo, kind, bytes, iters);
      };
    };
    c.shm = measureLink(over("shm"), chunk, c.reduceCacheBytesPerUs);
    printf("measuring tcp over loopback...\n");
    c.tcp = measureLink(over("tcp"), chunk, c.reduceCacheBytesPerUs);
    std::ofstream out(file);
    char host[256] = "?";
    gethostname(host, sizeof(host) - 1);
    std::time_t now = std::time(nullptr);
    char when[64];
    std::strftime(when, sizeof(when), "%Y-%m-%d %H:%M", std::gmtime(&now));
    out << "# braid-info --calibrate on " << host << ", " << when << " UTC\n"
        << "# ib: not measured here (it needs a peer on another host); the built-in value\n"
        << braid::formatCostConstants(c);
    if (!out) braid::fail(braidSystemError, "cannot write ", file);
    printf("%s", braid::formatCostConstants(c).c_str());
    printf("written to %s; use it with BRAID_TUNING_FILE=%s\n", file, file);
    return 0;
  } catch (const braid::Error& e) {
    fprintf(stderr, "braid-info --calibrate: %s\n", e.what());
    return 1;
  }
}

namespace {

// One measurement on a communicator both ranks already share: us per call, as rank 0 timed it
// (rank 1 runs the same calls). The communicator's algorithm rules fix what each collective runs.
double timeOnComm(braidComm_t comm, braid::OpKind kind, size_t bytes, int iters) {
  size_t count = bytes / sizeof(float);
  std::vector<float> in(count, 1.0f), out(count);
  auto run = [&](int n) {
    for (int i = 0; i < n; ++i) {
      braidResult_t r =
          kind == braid::OpKind::kAllReduce
              ? braidAllReduce(in.data(), out.data(), count, braidFloat32, braidSum, comm, nullptr)
              : braidBroadcast(in.data(), out.data(), count, braidFloat32, 0, comm, nullptr);
      if (r != braidSuccess) braid::fail(r, braidGetLastError(comm));
    }
  };
  run(iters / 10 + 2);
  auto t0 = std::chrono::steady_clock::now();
  run(iters);
  auto t1 = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::micro>(t1 - t0).count() / iters;
}

}  // namespace

int calibrateLink(const char* file) {
  braidComm_t comm = nullptr;
  try {
    braidConfig_t config = BRAID_CONFIG_INITIALIZER;
    config.algo = "allreduce=recdbl;broadcast=tree";
    config.timeoutMs = 60000;  // a failed peer ends the measurement instead of hanging it
    if (braidCommInitFromEnv(&comm, &config) != braidSuccess) {
      braid::fail(braidInvalidUsage, "cannot join the ranks (", braidGetLastError(nullptr),
                  "); start 2 ranks with braidrun, or mpirun with BRAID_COMM_ID=host:port");
    }
    auto* c = reinterpret_cast<braid::Comm*>(comm);
    if (c->nranks() != 2) {
      braid::fail(braidInvalidUsage, "--calibrate-link takes exactly 2 ranks, not ", c->nranks());
    }
    double reduceCache = median5([] { return measureReduce(kCached); });
    size_t chunk = braid::CommSettings::fromEnvironment(nullptr).chunkBytes;
    // Rank 1's reduction rate may differ; rank 0's is the one its result uses, so it is shared.
    braidResult_t rc =
        braidBroadcast(&reduceCache, &reduceCache, 1, braidFloat64, 0, comm, nullptr);
    if (rc != braidSuccess) braid::fail(rc, braidGetLastError(comm));
    std::string transport = c->connection(c->rank() ^ 1).transportName();
    if (c->rank() == 0) {
      printf("measuring the %s link between rank 0 and rank 1 (%s)...\n", transport.c_str(),
             c->hostOf(0) == c->hostOf(1) ? "one host" : "two hosts");
    }
    braid::LinkConstants link =
        measureLink([comm](const char*, braid::OpKind kind, size_t bytes,
                           int iters) { return timeOnComm(comm, kind, bytes, iters); },
                    chunk, reduceCache);
    if (c->rank() == 0) {
      // Only the measured link's lines: the file adds to the built-in constants, or to another
      // calibration's file appended to it.
      std::string text = braid::formatLinkConstants(transport, link);
      char host[256] = "?";
      gethostname(host, sizeof(host) - 1);
      std::ofstream out(file);
      out << "# braid-info --calibrate-link on " << host << ": " << transport
          << " between rank 0 and rank 1\n"
          << text;
      if (!out) braid::fail(braidSystemError, "cannot write ", file);
      printf("%swritten to %s; use it with BRAID_TUNING_FILE=%s\n", text.c_str(), file, file);
    }
    braidCommDestroy(comm);
    return 0;
  } catch (const braid::Error& e) {
    fprintf(stderr, "braid-info --calibrate-link: %s\n", e.what());
    if (comm != nullptr) braidCommAbort(comm);
    return 1;
  }
}
