// C entry points for collectives, point-to-point and groups. Arguments are checked here, before
// anything is sent, so a bad call fails alone and leaves the communicator usable. Calls inside a
// group are queued per thread and run at the outermost braidGroupEnd; otherwise they run at once.
#include <cstdint>
#include <cstring>
#include <span>
#include <thread>
#include <vector>

#include "algorithms/algorithm.h"
#include "algorithms/point_to_point.h"
#include "api/handles.h"
#include "cuda/device_proxy.h"
#include "cuda/pointer_kind.h"
#include "reduce/reduce.h"

using namespace braid;

namespace {

// What a call's buffers are: whether any holds bytes in host memory, and which hold device memory
// (a call checks at most two buffers), so the driver is asked about each pointer once.
struct BufferKinds {
  bool host = false;
  const void* device[2] = {nullptr, nullptr};
  int ndevice = 0;
  bool isDevice(const void* p) const {
    for (int i = 0; i < ndevice; ++i) {
      if (device[i] == p) return true;
    }
    return false;
  }
};

struct QueuedOp {
  Comm* comm;
  bool isCollective;
  CollArgs coll;
  const Algorithm* algorithm;
  PointToPointOp p2p;
  bool onDevice;  // stream-ordered on `stream` (see device_proxy.h)
  void* stream;
  BufferKinds kinds;
};

struct GroupState {
  int depth = 0;
  std::vector<QueuedOp> ops;
};
thread_local GroupState tlsGroup;

// A C caller may pass any int where an enum is expected; reading such a value as the C++ enum is
// undefined behaviour (UBSan stops on it). So the entry points copy each enum argument's bytes
// out of its parameter, and the value becomes an enum again only once it is known to be valid.
template <typename Enum>
int rawInt(const Enum* e) {
  int v;
  static_assert(sizeof(v) == sizeof(Enum));
  std::memcpy(&v, e, sizeof(v));
  return v;
}

braidDataType_t checkedType(int type) {
  if (!isValidDataType(type)) {
    fail(braidInvalidArgument, "datatype ", type, " is not a braidDataType_t");
  }
  return static_cast<braidDataType_t>(type);
}

braidRedOp_t checkedOp(int op) {
  if (!isValidRedOp(op)) fail(braidInvalidArgument, "op ", op, " is not a braidRedOp_t");
  return static_cast<braidRedOp_t>(op);
}

// count * typeSize * multiplier, refusing sizes that overflow or exceed the address space.
size_t bytesOf(size_t count, size_t typeSize, size_t multiplier) {
  constexpr size_t kMax = static_cast<size_t>(PTRDIFF_MAX);
  if (count != 0 && (typeSize > kMax / count || typeSize * count > kMax / multiplier)) {
    fail(braidInvalidArgument, "count ", count, " x ", multiplier, " elements of ", typeSize,
         " bytes overflows the address space");
  }
  return count * typeSize * multiplier;
}

void checkBuffer(const void* p, size_t bytes, const char* name, BufferKinds* kinds) {
  if (bytes == 0) return;
  if (p == nullptr) fail(braidInvalidArgument, name, " is NULL but holds ", bytes, " bytes");
  if (memoryKind(p) == MemoryKind::kHost) {
    kinds->host = true;
    return;
  }
  if (!DeviceProxy::available()) {
    fail(braidInvalidArgument, name,
         " is CUDA device memory; this build of Braid has no CUDA support (nvcc was not found "
         "when it was configured)");
  }
  kinds->device[kinds->ndevice++] = p;
}

// A call is stream-ordered when it has a device buffer, or when it names a stream and has no
// host buffer (a barrier, a count of 0): then it takes its place on that stream.
bool streamOrdered(const BufferKinds& kinds, void* stream) {
  return kinds.ndevice > 0 || (stream != nullptr && !kinds.host && DeviceProxy::available());
}

bool overlap(const void* a, size_t an, const void* b, size_t bn) {
  auto x = reinterpret_cast<uintptr_t>(a);
  auto y = reinterpret_cast<uintptr_t>(b);
  return an > 0 && bn > 0 && x < y + bn && y < x + an;
}

// The two buffers must be the same (in place) or disjoint.
void checkInPlaceOrDisjoint(const void* send, size_t sendBytes, const void* recv, size_t recvBytes,
                            const void* inPlaceSend) {
  if (send == inPlaceSend) return;
  if (overlap(send, sendBytes, recv, recvBytes)) {
    fail(braidInvalidArgument, "sendbuff and recvbuff overlap without being in place");
  }
}

void checkRoot(int root, const Comm& comm) {
  if (root < 0 || root >= comm.nranks()) {
    fail(braidInvalidArgument, "root ", root, " is out of range for ", comm.nranks(), " ranks");
  }
}

// Runs f for comm, and on failure marks the communicator failed with the call's name attached.
template <typename F>
void runMarkingFailure(Comm& comm, F&& f) {
  try {
    f();
  } catch (const PeerFailure& e) {
    PeerFailure wrapped(e.code(), comm.currentCall() + ": " + e.what());
    comm.markFailed(wrapped);
    throw wrapped;
  } catch (const Error& e) {
    Error wrapped(e.code(), comm.currentCall() + ": " + e.what());
    comm.markFailed(wrapped);
    throw wrapped;
  }
}

void runCollective(Comm& comm, const CollArgs& args, const Algorithm& algorithm) {
  runMarkingFailure(comm, [&] {
    OpHeader h;
    h.kind = args.kind;
    h.count = args.count;
    h.type = static_cast<int8_t>(args.type);
    h.op = static_cast<int8_t>(args.op);
    h.root = args.root;
    comm.beginCollective(h, messageBytes(comm, args));
    BRAID_TRACE(kColl, "%s: algorithm %s", comm.currentCall().c_str(), algorithm.name);
    comm.setLastAlgorithm(algorithm.name);
    algorithm.run(comm, args);
    comm.waitAllDone();
  });
}

// Runs one communicator's queued operations in order; consecutive send/recv form one batch.
void runQueue(Comm& comm, std::span<const QueuedOp* const> ops) {
  LogRankScope scope(comm.rank());
  for (size_t i = 0; i < ops.size();) {
    if (ops[i]->isCollective) {
      runCollective(comm, ops[i]->coll, *ops[i]->algorithm);
      ++i;
      continue;
    }
    std::vector<PointToPointOp> batch;
    for (; i < ops.size() && !ops[i]->isCollective; ++i)
      batch.push_back(ops[i]->p2p);
    comm.setLastAlgorithm("p2p");
    runMarkingFailure(comm, [&] { runPointToPoint(comm, batch); });
  }
}

// The device buffers op reads and writes; its host buffers, if any, are used where they are.
void addDeviceSpans(const QueuedOp& op, int rank, int nranks, std::vector<DeviceSpan>* spans) {
  auto add = [&](const void* p, size_t bytes, bool in, bool out) {
    if (bytes > 0 && op.kinds.isDevice(p)) spans->push_back({p, bytes, in, out});
  };
  if (!op.isCollective) {
    const PointToPointOp& p = op.p2p;
    add(p.buffer, p.count * p.typeSize, p.isSend, !p.isSend);
    return;
  }
  const CollArgs& a = op.coll;
  size_t bytes = a.count * a.typeSize;
  size_t total = bytes * static_cast<size_t>(nranks);
  switch (a.kind) {
    case OpKind::kAllReduce:
      add(a.send, bytes, true, false);
      add(a.recv, bytes, false, true);
      break;
    case OpKind::kBroadcast:
      if (rank == a.root) add(a.send, bytes, true, false);
      add(a.recv, bytes, false, true);
      break;
    case OpKind::kReduce:
      add(a.send, bytes, true, false);
      if (rank == a.root) add(a.recv, bytes, false, true);
      break;
    case OpKind::kAllGather:
      add(a.send, bytes, true, false);
      add(a.recv, total, false, true);
      break;
    case OpKind::kReduceScatter:
      add(a.send, total, true, false);
      add(a.recv, bytes, false, true);
      break;
    case OpKind::kAlltoAll:
      add(a.send, total, true, false);
      add(a.recv, total, false, true);
      break;
    default:
      break;
  }
}

// One communicator's stream-ordered calls in a group must share a stream.
void checkOneStream(const Comm& comm, std::span<const QueuedOp* const> ops) {
  for (const QueuedOp* op : ops) {
    if (op->stream != ops[0]->stream) {
      fail(braidInvalidUsage, "a group's stream-ordered calls for rank ", comm.rank(),
           " use different streams; one communicator takes one stream per group");
    }
  }
}

// Puts one communicator's stream-ordered operations on their stream; its proxy thread runs them on
// the staged buffers when the stream gets there.
void enqueueOnDevice(Comm& comm, std::span<const QueuedOp* const> ops) {
  checkOneStream(comm, ops);
  void* stream = ops[0]->stream;
  std::vector<DeviceSpan> spans;
  std::vector<QueuedOp> copies;
  for (const QueuedOp* op : ops) {
    addDeviceSpans(*op, comm.rank(), comm.nranks(), &spans);
    copies.push_back(*op);
  }
  Comm* c = &comm;
  comm.deviceProxy().enqueue(stream, spans, [c, copies](const DeviceProxy::Translate& staged) {
    std::vector<QueuedOp> local = copies;
    std::vector<const QueuedOp*> order;
    for (QueuedOp& op : local) {
      if (op.isCollective) {
        op.coll.send = staged(op.coll.send);
        op.coll.recv = staged(op.coll.recv);
      } else {
        op.p2p.buffer = staged(op.p2p.buffer);
      }
      order.push_back(&op);
    }
    try {
      runQueue(*c, order);
      return true;
    } catch (const std::exception& e) {
      c->setLastError(e.what());
      return false;
    }
  });
}

// Runs (or, on device buffers, enqueues) one communicator's share of a call or group.
void runComm(Comm& comm, std::span<const QueuedOp* const> ops) {
  size_t onDevice = 0;
  for (const QueuedOp* op : ops)
    onDevice += op->onDevice ? 1 : 0;
  if (onDevice == ops.size()) return enqueueOnDevice(comm, ops);
  if (onDevice > 0) {
    fail(braidInvalidUsage, "a group mixes host-buffer and stream-ordered calls for rank ",
         comm.rank(), "; put them in separate groups");
  }
  // Device work in flight on this communicator finishes first, and cannot start meanwhile.
  std::unique_lock<std::mutex> exclusive = comm.holdDeviceWork();
  runQueue(comm, ops);
}

// Runs every queued operation. Stream-ordered shares are enqueued from this thread (it has the
// caller's CUDA device); the others run on a thread per communicator when there are several
// (ranks of one process driven from one thread), else on this thread.
void runGroup(std::vector<QueuedOp> ops) {
  std::vector<Comm*> comms;
  std::vector<std::vector<const QueuedOp*>> perComm;
  for (const QueuedOp& op : ops) {
    size_t k = 0;
    while (k < comms.size() && comms[k] != op.comm)
      ++k;
    if (k == comms.size()) {
      comms.push_back(op.comm);
      perComm.emplace_back();
    }
    perComm[k].push_back(&op);
  }
  std::vector<std::unique_ptr<CommRef>> refs;
  for (Comm* c : comms)
    refs.push_back(std::make_unique<CommRef>(toHandle(c)));
  if (comms.size() == 1) return runComm(*comms[0], perComm[0]);
  bool allDevice = true;
  for (const QueuedOp& op : ops)
    allDevice = allDevice && op.onDevice;
  if (allDevice) {
    // Refused before anything is enqueued, so no rank's stream waits for a call that never comes.
    for (size_t k = 0; k < comms.size(); ++k)
      checkOneStream(*comms[k], perComm[k]);
    for (size_t k = 0; k < comms.size(); ++k)
      enqueueOnDevice(*comms[k], perComm[k]);
    return;
  }
  std::vector<std::thread> threads;
  std::vector<std::exception_ptr> errors(comms.size());
  for (size_t k = 0; k < comms.size(); ++k) {
    threads.emplace_back([&, k] {
      try {
        runComm(*comms[k], perComm[k]);
      } catch (...) {
        errors[k] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads)
    t.join();
  for (size_t k = 0; k < comms.size(); ++k) {
    if (!errors[k]) continue;
    // The other communicators' errors are recorded on them; the first one is this call's.
    for (size_t j = k + 1; j < comms.size(); ++j) {
      if (!errors[j]) continue;
      try {
        std::rethrow_exception(errors[j]);
      } catch (const std::exception& e) {
        comms[j]->setLastError(e.what());
      }
    }
    std::rethrow_exception(errors[k]);
  }
}

// Outside a group the call runs at once, on this thread (the caller holds comm for the call).
void submit(const QueuedOp& op) {
  if (tlsGroup.depth > 0) {
    tlsGroup.ops.push_back(op);
    return;
  }
  const QueuedOp* one[] = {&op};
  runComm(*op.comm, one);
}

braidResult_t collective(const char* fn, braidComm_t handle, OpKind kind, const void* send,
                         void* recv, size_t count, int rawType, int rawOp, int root, void* stream) {
  return guarded(fn, handle, [&] {
    CommRef comm(handle);
    braidDataType_t type = checkedType(rawType);
    size_t es = dataTypeSize(type);
    bool reduces =
        kind == OpKind::kAllReduce || kind == OpKind::kReduce || kind == OpKind::kReduceScatter;
    braidRedOp_t op = reduces ? checkedOp(rawOp) : braidSum;
    size_t n = static_cast<size_t>(comm->nranks());
    size_t r = static_cast<size_t>(comm->rank());
    size_t bytes = bytesOf(count, es, 1);
    size_t total = bytesOf(count, es, n);
    BufferKinds kinds;
    switch (kind) {
      case OpKind::kAllReduce:
        checkBuffer(send, bytes, "sendbuff", &kinds);
        checkBuffer(recv, bytes, "recvbuff", &kinds);
        checkInPlaceOrDisjoint(send, bytes, recv, bytes, recv);
        break;
      case OpKind::kBroadcast:
        checkRoot(root, *comm.get());
        checkBuffer(recv, bytes, "recvbuff", &kinds);
        if (static_cast<int>(r) == root) {
          checkBuffer(send, bytes, "sendbuff", &kinds);
          checkInPlaceOrDisjoint(send, bytes, recv, bytes, recv);
        }
        break;
      case OpKind::kReduce:
        checkRoot(root, *comm.get());
        checkBuffer(send, bytes, "sendbuff", &kinds);
        if (static_cast<int>(r) == root) {
          checkBuffer(recv, bytes, "recvbuff", &kinds);
          checkInPlaceOrDisjoint(send, bytes, recv, bytes, recv);
        }
        break;
      case OpKind::kAllGather:
        checkBuffer(send, bytes, "sendbuff", &kinds);
        checkBuffer(recv, total, "recvbuff", &kinds);
        checkInPlaceOrDisjoint(send, bytes, recv, total, static_cast<char*>(recv) + r * bytes);
        break;
      case OpKind::kReduceScatter:
        checkBuffer(send, total, "sendbuff", &kinds);
        checkBuffer(recv, bytes, "recvbuff", &kinds);
        checkInPlaceOrDisjoint(send, total, recv, bytes,
                               static_cast<char*>(recv) - static_cast<ptrdiff_t>(r * bytes));
        break;
      case OpKind::kAlltoAll:
        checkBuffer(send, total, "sendbuff", &kinds);
        checkBuffer(recv, total, "recvbuff", &kinds);
        if (overlap(send, total, recv, total)) {
          fail(braidInvalidArgument, "braidAlltoAll cannot run in place: the buffers overlap");
        }
        break;
      default:
        break;
    }
    CollArgs args{kind, send, recv, count, type, op, root, es};
    if (kind != OpKind::kBroadcast && kind != OpKind::kReduce) args.root = -1;
    const Algorithm& algorithm = chooseAlgorithm(*comm.get(), args);
    bool onDevice = streamOrdered(kinds, stream);
    if (tlsGroup.depth == 0 && !onDevice) {
      // The common case, run at once without queueing (the caller holds comm for the call).
      std::unique_lock<std::mutex> exclusive = comm->holdDeviceWork();
      LogRankScope scope(comm->rank());
      runCollective(*comm.get(), args, algorithm);
      return;
    }
    submit(QueuedOp{comm.get(), true, args, &algorithm, {}, onDevice, stream, kinds});
  });
}

braidResult_t pointToPoint(const char* fn, braidComm_t handle, bool isSend, const void* buf,
                           size_t count, int rawType, int peer, void* stream) {
  return guarded(fn, handle, [&] {
    CommRef comm(handle);
    braidDataType_t type = checkedType(rawType);
    size_t es = dataTypeSize(type);
    BufferKinds kinds;
    checkBuffer(buf, bytesOf(count, es, 1), isSend ? "sendbuff" : "recvbuff", &kinds);
    if (peer < 0 || peer >= comm->nranks()) {
      fail(braidInvalidArgument, "peer ", peer, " is out of range for ", comm->nranks(), " ranks");
    }
    if (peer == comm->rank() && tlsGroup.depth == 0) {
      fail(braidInvalidUsage,
           "a send to or receive from oneself must be inside a group with its "
           "matching call");
    }
    PointToPointOp p{isSend, peer, const_cast<void*>(buf), count, type, es};
    submit(
        QueuedOp{comm.get(), false, {}, nullptr, p, streamOrdered(kinds, stream), stream, kinds});
  });
}

}  // namespace

extern "C" {

braidResult_t braidAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                             braidDataType_t datatype, braidRedOp_t op, braidComm_t comm,
                             braidStream_t stream) {
  return collective("braidAllReduce", comm, OpKind::kAllReduce, sendbuff, recvbuff, count,
                    rawInt(&datatype), rawInt(&op), -1, stream);
}

braidResult_t braidBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                             braidDataType_t datatype, int root, braidComm_t comm,
                             braidStream_t stream) {
  return collective("braidBroadcast", comm, OpKind::kBroadcast, sendbuff, recvbuff, count,
                    rawInt(&datatype), braidSum, root, stream);
}

braidResult_t braidReduce(const void* sendbuff, void* recvbuff, size_t count,
                          braidDataType_t datatype, braidRedOp_t op, int root, braidComm_t comm,
                          braidStream_t stream) {
  return collective("braidReduce", comm, OpKind::kReduce, sendbuff, recvbuff, count,
                    rawInt(&datatype), rawInt(&op), root, stream);
}

braidResult_t braidAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                             braidDataType_t datatype, braidComm_t comm, braidStream_t stream) {
  return collective("braidAllGather", comm, OpKind::kAllGather, sendbuff, recvbuff, sendcount,
                    rawInt(&datatype), braidSum, -1, stream);
}

braidResult_t braidReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                 braidDataType_t datatype, braidRedOp_t op, braidComm_t comm,
                                 braidStream_t stream) {
  return collective("braidReduceScatter", comm, OpKind::kReduceScatter, sendbuff, recvbuff,
                    recvcount, rawInt(&datatype), rawInt(&op), -1, stream);
}

braidResult_t braidAlltoAll(const void* sendbuff, void* recvbuff, size_t count,
                            braidDataType_t datatype, braidComm_t comm, braidStream_t stream) {
  return collective("braidAlltoAll", comm, OpKind::kAlltoAll, sendbuff, recvbuff, count,
                    rawInt(&datatype), braidSum, -1, stream);
}

braidResult_t braidBarrier(braidComm_t comm, braidStream_t stream) {
  return collective("braidBarrier", comm, OpKind::kBarrier, nullptr, nullptr, 0, braidInt8,
                    braidSum, -1, stream);
}

braidResult_t braidSend(const void* sendbuff, size_t count, braidDataType_t datatype, int peer,
                        braidComm_t comm, braidStream_t stream) {
  return pointToPoint("braidSend", comm, true, sendbuff, count, rawInt(&datatype), peer, stream);
}

braidResult_t braidRecv(void* recvbuff, size_t count, braidDataType_t datatype, int peer,
                        braidComm_t comm, braidStream_t stream) {
  return pointToPoint("braidRecv", comm, false, recvbuff, count, rawInt(&datatype), peer, stream);
}

braidResult_t braidGroupStart(void) {
  ++tlsGroup.depth;
  return braidSuccess;
}

braidResult_t braidGroupEnd(void) {
  return guarded("braidGroupEnd", nullptr, [&] {
    if (tlsGroup.depth == 0) fail(braidInvalidUsage, "braidGroupEnd without braidGroupStart");
    if (--tlsGroup.depth > 0) return;
    std::vector<QueuedOp> ops = std::move(tlsGroup.ops);
    tlsGroup.ops.clear();
    runGroup(std::move(ops));
  });
}

}  // extern "C"
