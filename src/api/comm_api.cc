// C entry points that make, inspect and end communicators.
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "api/handles.h"
#include "bootstrap/root.h"
#include "core/log.h"
#include "core/params.h"

using namespace braid;

namespace {

UniqueIdData decodeId(const braidUniqueId& id) {
  UniqueIdData d;
  std::memcpy(&d, id.internal, sizeof(d));
  if (d.idMagic != kUniqueIdMagic || d.version != kWireVersion) {
    fail(braidInvalidArgument,
         "commId is not a unique id made by braidGetUniqueId of this version");
  }
  return d;
}

braidUniqueId encodeId(const UniqueIdData& d) {
  braidUniqueId id{};
  static_assert(sizeof(UniqueIdData) <= sizeof(id.internal));
  std::memcpy(id.internal, &d, sizeof(d));
  return id;
}

uint64_t randomMagic() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ 1;
}

Comm* initRank(int nranks, const UniqueIdData& id, int rank, const braidConfig_t* config,
               int cudaDevice) {
  if (nranks < 1) fail(braidInvalidArgument, "nranks=", nranks, " must be at least 1");
  if (rank < 0 || rank >= nranks) {
    fail(braidInvalidArgument, "rank=", rank, " is out of range for nranks=", nranks);
  }
  LogRankScope scope(rank);
  CommSettings settings = CommSettings::fromEnvironment(config);
  std::atomic<bool> noAbort{false};
  auto boot = Comm::makeBootstrap(id.commMagic, settings, &noAbort);
  try {
    boot->joinThroughRoot(id.root, rank, nranks);
  } catch (const Error&) {
    waitForRootFailureReplies(2000);  // see root.h: this process may host the root
    throw;
  }
  auto* comm = new Comm(std::move(settings), std::move(boot), cudaDevice);
  registerComm(comm);
  BRAID_INFO(kInit, "rank %d of %d ready (root %s, %s)", rank, nranks, id.root.str().c_str(),
             comm->bootstrap().interfaceName().c_str());
  return comm;
}

// A name=value pair from the first of several variables that is set.
bool firstSet(std::initializer_list<const char*> names, std::string* value, std::string* which) {
  for (const char* n : names) {
    const char* v = std::getenv(n);
    if (v != nullptr && *v != '\0') {
      *value = v;
      *which = n;
      return true;
    }
  }
  return false;
}

int envInt(const std::string& name, const std::string& text) {
  int64_t v = 0;
  if (!parseSize(text, &v) || v < 0 || v > (1 << 30)) {
    fail(braidInvalidArgument, name, "='", text, "' is not a valid non-negative integer");
  }
  return static_cast<int>(v);
}

}  // namespace

extern "C" {

braidResult_t braidGetVersion(int* version) {
  return guarded("braidGetVersion", nullptr, [&] {
    if (version == nullptr) fail(braidInvalidArgument, "version is NULL");
    *version = BRAID_VERSION_CODE;
  });
}

braidResult_t braidGetUniqueId(braidUniqueId* uniqueId) {
  return guarded("braidGetUniqueId", nullptr, [&] {
    if (uniqueId == nullptr) fail(braidInvalidArgument, "uniqueId is NULL");
    CommSettings settings = CommSettings::fromEnvironment(nullptr);
    std::string ifname;
    UniqueIdData d{kUniqueIdMagic, kWireVersion, randomMagic(), chooseLocalAddress(&ifname)};
    d.root.port = 0;
    Fd listener = listenOn(&d.root);
    startRendezvousRoot(std::move(listener), d.commMagic, settings.timeoutMs);
    BRAID_INFO(kBoot, "rendezvous root listening on %s (%s)", d.root.str().c_str(), ifname.c_str());
    *uniqueId = encodeId(d);
  });
}

braidResult_t braidCommInitRankConfig(braidComm_t* comm, int nranks, braidUniqueId commId, int rank,
                                      const braidConfig_t* config) {
  return guarded("braidCommInitRank", nullptr, [&] {
    if (comm == nullptr) fail(braidInvalidArgument, "comm is NULL");
    *comm = nullptr;
    *comm = toHandle(initRank(nranks, decodeId(commId), rank, config, -1));
  });
}

braidResult_t braidCommInitRank(braidComm_t* comm, int nranks, braidUniqueId commId, int rank) {
  return braidCommInitRankConfig(comm, nranks, commId, rank, nullptr);
}

braidResult_t braidCommInitAll(braidComm_t* comms, int ndev, const int* devlist) {
  return guarded("braidCommInitAll", nullptr, [&] {
    if (comms == nullptr) fail(braidInvalidArgument, "comms is NULL");
    if (ndev < 1) fail(braidInvalidArgument, "ndev=", ndev, " must be at least 1");
    braidUniqueId id;
    braidResult_t rc = braidGetUniqueId(&id);
    if (rc != braidSuccess) fail(rc, lastErrorOf(nullptr));
    UniqueIdData d = decodeId(id);
    std::vector<Comm*> made(static_cast<size_t>(ndev), nullptr);
    std::vector<std::string> errors(static_cast<size_t>(ndev));
    std::vector<braidResult_t> codes(static_cast<size_t>(ndev), braidSuccess);
    std::vector<std::thread> threads;
    for (int r = 0; r < ndev; ++r) {
      threads.emplace_back([&, r] {
        try {
          made[static_cast<size_t>(r)] =
              initRank(ndev, d, r, nullptr, devlist != nullptr ? devlist[r] : -1);
        } catch (const Error& e) {
          codes[static_cast<size_t>(r)] = e.code();
          errors[static_cast<size_t>(r)] = e.what();
        }
      });
    }
    for (std::thread& t : threads)
      t.join();
    for (int r = 0; r < ndev; ++r) {
      if (codes[static_cast<size_t>(r)] == braidSuccess) continue;
      for (Comm* c : made) {
        if (c != nullptr) retireComm(c);
      }
      fail(codes[static_cast<size_t>(r)], "rank ", r, ": ", errors[static_cast<size_t>(r)]);
    }
    for (int r = 0; r < ndev; ++r)
      comms[r] = toHandle(made[static_cast<size_t>(r)]);
  });
}

braidResult_t braidCommInitFromEnv(braidComm_t* comm, const braidConfig_t* config) {
  return guarded("braidCommInitFromEnv", nullptr, [&] {
    if (comm == nullptr) fail(braidInvalidArgument, "comm is NULL");
    *comm = nullptr;
    std::string rankText, sizeText, rankVar, sizeVar;
    if (!firstSet({"RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"},
                  &rankText, &rankVar) ||
        !firstSet({"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"}, &sizeText,
                  &sizeVar)) {
      fail(braidInvalidArgument,
           "no rank/size in the environment: set RANK and WORLD_SIZE (or run under braidrun, "
           "mpirun, srun or torchrun)");
    }
    int rank = envInt(rankVar, rankText);
    int nranks = envInt(sizeVar, sizeText);
    std::string address = paramString("BRAID_COMM_ID");
    if (address.empty()) {
      const char* host = std::getenv("MASTER_ADDR");
      const char* port = std::getenv("MASTER_PORT");
      if (host == nullptr || port == nullptr) {
        fail(braidInvalidArgument,
             "no rendezvous address: set BRAID_COMM_ID=host:port (or torchrun's MASTER_ADDR "
             "and MASTER_PORT)");
      }
      // torchrun's own store already listens on MASTER_PORT; Braid's root takes the next port.
      address = std::string(host) + ":" + std::to_string(envInt("MASTER_PORT", port) + 1);
    }
    CommSettings settings = CommSettings::fromEnvironment(config);
    UniqueIdData d{kUniqueIdMagic, kWireVersion, 0, parseHostPort(address)};
    for (char c : address)
      d.commMagic = (d.commMagic ^ static_cast<uint8_t>(c)) * 1099511628211ull;
    if (rank == 0) {
      SockAddr bindAddr = d.root;
      Fd listener = listenOn(&bindAddr);
      startRendezvousRoot(std::move(listener), d.commMagic, settings.timeoutMs);
    }
    *comm = toHandle(initRank(nranks, d, rank, config, -1));
  });
}

braidResult_t braidCommSplit(braidComm_t comm, int color, int key, braidComm_t* newcomm,
                             const braidConfig_t* config) {
  return guarded("braidCommSplit", comm, [&] {
    if (newcomm == nullptr) fail(braidInvalidArgument, "newcomm is NULL");
    *newcomm = nullptr;
    if (color < 0 && color != BRAID_SPLIT_NOCOLOR) {
      fail(braidInvalidArgument, "color=", color, " must be >= 0 or BRAID_SPLIT_NOCOLOR");
    }
    CommRef c(comm);
    LogRankScope scope(c->rank());
    std::unique_ptr<Comm> child;
    try {
      child = c->split(color, key, config);
    } catch (const Error& e) {
      if (e.code() != braidInvalidArgument) c->markFailed(e);
      throw;
    }
    if (child) {
      registerComm(child.get());
      *newcomm = toHandle(child.release());
    }
  });
}

braidResult_t braidCommFinalize(braidComm_t comm) {
  return guarded("braidCommFinalize", comm, [&] {
    CommRef c(comm);
    // Host-buffer calls complete before they return; device-buffer calls still on their streams
    // are waited for here.
    c->holdDeviceWork();
  });
}

braidResult_t braidCommDestroy(braidComm_t comm) {
  return guarded("braidCommDestroy", comm, [&] {
    {
      CommRef check(comm);
      check->drainHeaders();
    }
    retireComm(reinterpret_cast<Comm*>(comm));
  });
}

braidResult_t braidCommAbort(braidComm_t comm) {
  return guarded("braidCommAbort", comm, [&] {
    auto* c = reinterpret_cast<Comm*>(comm);
    {
      CommRef check(comm);
      c->abort();
      // The proxy may be running a device call on this communicator: let it end (the abort ends
      // its waits) before the connections are shut down under it.
      std::unique_lock<std::mutex> held;
      if (DeviceProxy* proxy = c->deviceProxyIfMade()) held = proxy->hold();
      c->markFailed(Error(braidInvalidUsage, "communicator aborted by braidCommAbort"));
    }
    retireComm(c);
  });
}

braidResult_t braidCommGetAsyncError(braidComm_t comm, braidResult_t* asyncError) {
  return guarded("braidCommGetAsyncError", comm, [&] {
    if (asyncError == nullptr) fail(braidInvalidArgument, "asyncError is NULL");
    CommRef c(comm);
    *asyncError = c->asyncError();
  });
}

braidResult_t braidCommCount(const braidComm_t comm, int* count) {
  return guarded("braidCommCount", comm, [&] {
    if (count == nullptr) fail(braidInvalidArgument, "count is NULL");
    *count = CommRef(comm)->nranks();
  });
}

braidResult_t braidCommCuDevice(const braidComm_t comm, int* device) {
  return guarded("braidCommCuDevice", comm, [&] {
    if (device == nullptr) fail(braidInvalidArgument, "device is NULL");
    *device = CommRef(comm)->cudaDevice();
  });
}

braidResult_t braidCommUserRank(const braidComm_t comm, int* rank) {
  return guarded("braidCommUserRank", comm, [&] {
    if (rank == nullptr) fail(braidInvalidArgument, "rank is NULL");
    *rank = CommRef(comm)->rank();
  });
}

braidResult_t braidCommPeerTransport(const braidComm_t comm, int peer, const char** transport) {
  return guarded("braidCommPeerTransport", comm, [&] {
    if (transport == nullptr) fail(braidInvalidArgument, "transport is NULL");
    CommRef ref(comm);
    if (peer < 0 || peer >= ref->nranks()) {
      fail(braidInvalidArgument, "peer ", peer, " is not a rank of this communicator (0..",
           ref->nranks() - 1, ")");
    }
    *transport = ref->transportTo(peer);
  });
}

braidResult_t braidCommLastAlgorithm(const braidComm_t comm, const char** algorithm) {
  return guarded("braidCommLastAlgorithm", comm, [&] {
    if (algorithm == nullptr) fail(braidInvalidArgument, "algorithm is NULL");
    *algorithm = CommRef(comm)->lastAlgorithm();
  });
}

const char* braidGetErrorString(braidResult_t result) {
  int code;  // copied out: a C caller may pass a value outside the enum
  std::memcpy(&code, &result, sizeof(code));
  switch (code) {
    case braidSuccess:
      return "no error";
    case braidUnhandledCudaError:
      return "unhandled CUDA error";
    case braidSystemError:
      return "system error (an OS call failed)";
    case braidInternalError:
      return "internal error (a bug in Braid)";
    case braidInvalidArgument:
      return "invalid argument";
    case braidInvalidUsage:
      return "invalid usage";
    case braidRemoteError:
      return "remote error (a peer failed or went away)";
    case braidInProgress:
      return "operation in progress";
    case braidTimeout:
      return "timeout";
    default:
      return "unknown result code";
  }
}

const char* braidGetLastError(braidComm_t comm) {
  return lastErrorOf(comm);
}

}  // extern "C"
