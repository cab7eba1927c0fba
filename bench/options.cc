// options.cc: reads nccl-tests' command line into Options.
//
// The flags, their long names, their defaults and the size syntax (K/M/G suffixes in binary
// units) are nccl-tests', so existing job scripts run unchanged. Flags that only mean something
// for CUDA (graphs, streams, registration, parallel init) are accepted and reported as ignored;
// several threads or GPUs per process are refused, since with host buffers every rank is a process.
// Buffers live in device memory where Braid was built with CUDA and there is a GPU, else in host
// memory; --host and --device choose.
#include <getopt.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "harness.h"

namespace braid::bench {
namespace {

constexpr int kHostFlag = 1000;
constexpr int kDeviceFlag = 1001;

void printUsage(FILE* out, const char* program) {
  std::fprintf(out,
               "USAGE: %s \n"
               "\t[-t,--nthreads <threads per process>] (must be 1)\n"
               "\t[-g,--ngpus <GPUs per thread>] (must be 1)\n"
               "\t[-b,--minbytes <min size in bytes, K/M/G suffixes allowed>] (default 32M)\n"
               "\t[-e,--maxbytes <max size in bytes>] (default 32M)\n"
               "\t[-i,--stepbytes <increment size>] (default 1M)\n"
               "\t[-f,--stepfactor <increment factor>] (default: use -i)\n"
               "\t[-n,--iters <iteration count>] (default 20)\n"
               "\t[-m,--agg_iters <calls aggregated in one group per iteration>] (default 1)\n"
               "\t[-w,--warmup_iters <warmup iteration count>] (default 1)\n"
               "\t[-c,--check <checked calls per size, 0 to skip checking>] (default 1)\n"
               "\t[-o,--op <sum/prod/min/max/avg/all>] (default sum)\n"
               "\t[-d,--datatype <int8/uint8/int32/uint32/int64/uint64/half/float/double/"
               "bfloat16/f8e4m3/f8e5m2/all>] (default float)\n"
               "\t[-r,--root <root/all>] (default 0)\n"
               "\t[-z,--blocking <0/1/2>] (1: barrier after each call)\n"
               "\t[-T,--timeout <seconds every wait may take, 0 waits forever>]\n"
               "\t[-a,--average <0/1/2/3> report the time of <0=rank 0/1=mean/2=min/3=max> over "
               "ranks] (default 1)\n"
               "\t[-J,--output_file <file> also write the results as JSON]\n"
               "\t[-C,--report_cputime <0/1>] (label the time column cputime)\n"
               "\t[-G,--cudagraph <n>] [-y,--stream_null <0/1>] [-p,--parallel_init <0/1>] "
               "[-R,--local_register <0/1/2>] (accepted, no effect yet)\n"
               "\t[--host] (buffers in host memory; the default without a GPU)\n"
               "\t[--device] (buffers in CUDA device memory; the default with a GPU)\n"
               "\t[-h,--help]\n",
               program);
}

[[noreturn]] __attribute__((format(printf, 2, 3))) void failUsage(const char* program,
                                                                  const char* format, ...) {
  std::fprintf(stderr, "%s: ", program);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fprintf(stderr, "\nRun '%s -h' for the list of flags.\n", program);
  std::exit(2);
}

long parseInteger(const char* program, const char* flag, const char* text, long lo, long hi) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text, &end, 0);  // base 0 also takes 0x.. as nccl-tests does
  if (errno != 0 || end == text || *end != '\0' || value < lo || value > hi) {
    failUsage(program, "invalid value '%s' for '%s' (expected an integer in [%ld, %ld])", text,
              flag, lo, hi);
  }
  return value;
}

// nccl-tests' size syntax: a number, then optionally K, M or G (any case) in powers of 1024.
size_t parseSize(const char* program, const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  const double number = std::strtod(text, &end);
  bool valid = errno == 0 && end != text && number >= 0;
  while (valid && *end == ' ')
    ++end;
  double unit = 1;
  switch (valid ? *end : '\0') {
    case '\0':
      break;
    case 'K':
    case 'k':
      unit = 1024.0;
      break;
    case 'M':
    case 'm':
      unit = 1024.0 * 1024;
      break;
    case 'G':
    case 'g':
      unit = 1024.0 * 1024 * 1024;
      break;
    default:
      valid = false;
      break;
  }
  const double bytes = number * unit;
  if (!valid || !(bytes < std::ldexp(1.0, 62))) {
    failUsage(program, "invalid size specified for '%s': '%s'", flag, text);
  }
  return static_cast<size_t>(bytes);
}

std::string baseName(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

}  // namespace

Options parseOptions(int argc, char** argv) {
  Options options;
  options.program = baseName(argc > 0 ? argv[0] : "braid_perf");
  for (int i = 0; i < argc; ++i) {
    options.args.emplace_back(argv[i]);
  }
  const char* program = options.program.c_str();

  static const option kLongOptions[] = {
      {"nthreads", required_argument, nullptr, 't'},
      {"ngpus", required_argument, nullptr, 'g'},
      {"minbytes", required_argument, nullptr, 'b'},
      {"maxbytes", required_argument, nullptr, 'e'},
      {"stepbytes", required_argument, nullptr, 'i'},
      {"stepfactor", required_argument, nullptr, 'f'},
      {"iters", required_argument, nullptr, 'n'},
      {"agg_iters", required_argument, nullptr, 'm'},
      {"warmup_iters", required_argument, nullptr, 'w'},
      {"parallel_init", required_argument, nullptr, 'p'},
      {"check", required_argument, nullptr, 'c'},
      {"op", required_argument, nullptr, 'o'},
      {"datatype", required_argument, nullptr, 'd'},
      {"root", required_argument, nullptr, 'r'},
      {"blocking", required_argument, nullptr, 'z'},
      {"stream_null", required_argument, nullptr, 'y'},
      {"timeout", required_argument, nullptr, 'T'},
      {"cudagraph", required_argument, nullptr, 'G'},
      {"report_cputime", required_argument, nullptr, 'C'},
      {"average", required_argument, nullptr, 'a'},
      {"output_file", required_argument, nullptr, 'J'},
      {"local_register", required_argument, nullptr, 'R'},
      {"host", no_argument, nullptr, kHostFlag},
      {"device", no_argument, nullptr, kDeviceFlag},
      {"help", no_argument, nullptr, 'h'},
      {nullptr, 0, nullptr, 0},
  };

  optind = 1;
  for (;;) {
    const int c = getopt_long(argc, argv, "t:g:b:e:i:f:n:m:w:p:c:o:d:r:z:y:T:G:C:a:J:R:h",
                              kLongOptions, nullptr);
    if (c == -1) break;
    switch (c) {
      case 't':
        options.nThreads = static_cast<int>(parseInteger(program, "nthreads", optarg, 1, INT_MAX));
        if (options.nThreads != 1) {
          failUsage(program,
                    "-t %d: several threads per process are not supported with host "
                    "buffers; start one process per rank instead",
                    options.nThreads);
        }
        break;
      case 'g':
        options.nGpus = static_cast<int>(parseInteger(program, "ngpus", optarg, 1, INT_MAX));
        if (options.nGpus != 1) {
          failUsage(program,
                    "-g %d: several GPUs per process are not supported with host "
                    "buffers; start one process per rank instead",
                    options.nGpus);
        }
        break;
      case 'b':
        options.minBytes = parseSize(program, "minbytes", optarg);
        break;
      case 'e':
        options.maxBytes = parseSize(program, "maxbytes", optarg);
        break;
      case 'i':
        options.stepBytes = parseSize(program, "stepbytes", optarg);
        break;
      case 'f':
        options.stepFactor =
            static_cast<size_t>(parseInteger(program, "stepfactor", optarg, 0, INT_MAX));
        break;
      case 'n':
        options.iters = static_cast<int>(parseInteger(program, "iters", optarg, 1, INT_MAX));
        break;
      case 'm':
        options.aggIters = static_cast<int>(parseInteger(program, "agg_iters", optarg, 1, INT_MAX));
        break;
      case 'w':
        options.warmupIters =
            static_cast<int>(parseInteger(program, "warmup_iters", optarg, 0, INT_MAX));
        break;
      case 'c':
        options.check = static_cast<int>(parseInteger(program, "check", optarg, 0, INT_MAX));
        break;
      case 'o':
        if (std::strcmp(optarg, "all") == 0) {
          options.op = kAll;
        } else if (const OpInfo* op = findOp(optarg)) {
          options.op = op->op;
        } else {
          failUsage(program, "invalid op '%s' (expected sum, prod, max, min, avg or all)", optarg);
        }
        break;
      case 'd':
        if (std::strcmp(optarg, "all") == 0) {
          options.type = kAll;
        } else if (const TypeInfo* type = findType(optarg)) {
          options.type = type->type;
        } else {
          failUsage(program,
                    "invalid datatype '%s' (expected int8, uint8, int32, uint32, int64, uint64, "
                    "half, float, double, bfloat16, f8e4m3, f8e5m2 or all)",
                    optarg);
        }
        break;
      case 'r':
        options.root = std::strcmp(optarg, "all") == 0
                           ? kAll
                           : static_cast<int>(parseInteger(program, "root", optarg, 0, INT_MAX));
        break;
      case 'z':
        options.blocking = static_cast<int>(parseInteger(program, "blocking", optarg, 0, 2));
        break;
      case 'T':
        options.timeoutSec = static_cast<int>(parseInteger(program, "timeout", optarg, 0, INT_MAX));
        break;
      case 'a':
        options.average = static_cast<int>(parseInteger(program, "average", optarg, 0, 3));
        break;
      case 'C':
        options.reportCpuTime = parseInteger(program, "report_cputime", optarg, 0, 1) != 0;
        break;
      case 'J':
        options.jsonPath = optarg;
        break;
      case 'G':
        if (parseInteger(program, "cudagraph", optarg, 0, INT_MAX) != 0) {
          options.notes.push_back(
              "Option -G (CUDA graph) ignored: the benchmarks do not capture graphs yet");
        }
        break;
      case 'y':
        parseInteger(program, "stream_null", optarg, 0, 1);
        options.notes.push_back(
            "Option -y (stream_null) ignored: device calls use a stream of their own");
        break;
      case 'p':
        parseInteger(program, "parallel_init", optarg, 0, 1);
        options.notes.push_back("Option -p (parallel_init) ignored: one rank per process");
        break;
      case 'R':
        parseInteger(program, "local_register", optarg, 0, 2);
        options.notes.push_back(
            "Option -R (local_register) ignored: no registration for host buffers");
        break;
      case kHostFlag:
        options.memory = MemoryKind::kHost;
        break;
      case kDeviceFlag:
        options.memory = MemoryKind::kDevice;
        break;
      case 'h':
        printUsage(stdout, program);
        std::exit(0);
      default:  // getopt_long has already named the flag it did not know
        printUsage(stderr, program);
        std::exit(2);
    }
  }
  if (optind < argc) failUsage(program, "unexpected argument '%s'", argv[optind]);
  if (options.minBytes > options.maxBytes) {
    failUsage(program, "invalid sizes for 'minbytes' and 'maxbytes': %zu > %zu", options.minBytes,
              options.maxBytes);
  }
  return options;
}

}  // namespace braid::bench
