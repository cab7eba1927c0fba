// braid-info --tuning and --calibrate: the cost model's predictions, and the measurement of its
// constants on this machine.
#include "braid_info_tuning.h"

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

// 2 ranks timing allreduce with one algorithm over one transport: us per call.
double timeAllReduceUs(const char* transport, const char* algo, size_t bytes, int iters) {
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
      for (int i = 0; i < n; ++i)
        braidAllReduce(in.data(), out.data(), count, braidFloat32, braidSum, comm, nullptr);
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

// Large messages, whose buffers stream from memory rather than cache: the bandwidth figures that
// decide the large-message choices come from here.
constexpr size_t kLarge = 32u << 20;

// Bytes of one input combined per us: float sum of kLarge bytes.
double measureReduce() {
  size_t count = kLarge / sizeof(float);
  std::vector<float> a(count, 1.0f), b(count, 2.0f), out(count);
  int iters = 4;
  braid::reduce(out.data(), a.data(), b.data(), count, braidFloat32, braidSum, 1);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i)
    braid::reduce(out.data(), a.data(), b.data(), count, braidFloat32, braidSum, 1);
  auto t1 = std::chrono::steady_clock::now();
  return static_cast<double>(count * sizeof(float)) * iters /
         std::chrono::duration<double, std::micro>(t1 - t0).count();
}

// One recursive-doubling step between 2 ranks: at 8 B it is the per-message latency; at kLarge,
// less that latency and the combining, it gives the bandwidth.
braid::LinkCost measureLink(const char* transport, double reduceBytesPerUs) {
  double small = median5([&] { return timeAllReduceUs(transport, "recdbl", 8, 4000); });
  double large = median5([&] { return timeAllReduceUs(transport, "recdbl", kLarge, 4); });
  double moving = large - small - static_cast<double>(kLarge) / reduceBytesPerUs;
  double bandwidth = static_cast<double>(kLarge) / std::max(moving, large / 10);
  return {small, bandwidth};
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
  in.inside = braid::linkCost(k, o.inside);
  in.across = o.hosts > 1 ? braid::linkCost(k, o.across) : in.inside;
  in.flat = in.across;
  in.chunkBytes = braid::CommSettings::fromEnvironment(nullptr).chunkBytes;
  in.reduceBytesPerUs = k.reduceBytesPerUs;
  if (!o.tsv) {
    printf("cost model constants (%s):\n%s\n", k.source.c_str(),
           braid::formatCostConstants(k).c_str());
    printf("predicted us per call, %d ranks on %d host(s): inside %s, across %s; chunk %zu\n",
           o.ranks, o.hosts, o.inside.c_str(), o.hosts > 1 ? o.across.c_str() : "-", in.chunkBytes);
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
      const braid::Algorithm* best = nullptr;
      double bestUs = 0;
      if (!o.tsv) printf("%-10s", sizeText(bytes).c_str());
      for (const braid::Algorithm* a : serving) {
        double us = a->cost(in);
        if (best == nullptr || us < bestUs) best = a, bestUs = us;
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
    printf("measuring the reduction rate...\n");
    c.reduceBytesPerUs = median5(measureReduce);
    printf("measuring shm (2 ranks, recursive doubling at 8 B and 32 MiB)...\n");
    c.shm = measureLink("shm", c.reduceBytesPerUs);
    printf("measuring tcp over loopback...\n");
    c.tcp = measureLink("tcp", c.reduceBytesPerUs);
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
