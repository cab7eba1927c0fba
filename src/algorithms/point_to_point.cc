// runPointToPoint: headers first (so a receiver checks type and count before trusting the data),
// then the data, then one wait for everything.
#include "algorithms/point_to_point.h"

#include <algorithm>
#include <cstring>
#include <deque>

#include "core/error.h"

namespace braid {

void runPointToPoint(Comm& comm, const std::vector<PointToPointOp>& ops) {
  size_t largest = 0;
  for (const PointToPointOp& op : ops)
    largest = std::max(largest, op.count * op.typeSize);
  comm.beginPointToPoint(largest);
  std::vector<const PointToPointOp*> selfSends;
  std::vector<const PointToPointOp*> selfRecvs;
  for (const PointToPointOp& op : ops) {
    if (op.peer == comm.rank()) {
      (op.isSend ? selfSends : selfRecvs).push_back(&op);
      continue;
    }
    // Open every connection before posting anything: opening one may wait for the peer.
    comm.connection(op.peer);
  }
  if (selfSends.size() != selfRecvs.size()) {
    fail(braidInvalidUsage, "rank ", comm.rank(), " has ", selfSends.size(),
         " sends to itself but ", selfRecvs.size(),
         " receives from itself in one group (a send to oneself needs a receive in the same "
         "group)");
  }
  for (size_t i = 0; i < selfSends.size(); ++i) {
    const PointToPointOp& s = *selfSends[i];
    const PointToPointOp& r = *selfRecvs[i];
    if (s.count != r.count || s.type != r.type) {
      fail(braidInvalidUsage, "rank ", comm.rank(), " sends ", s.count,
           " elements to itself but receives ", r.count, " (types ", s.type, "/", r.type, ")");
    }
    if (s.count > 0) std::memmove(r.buffer, s.buffer, s.count * s.typeSize);
  }
  // Each receive is a header then (unless empty) the data. They are consumed here in posting
  // order per peer, checking each header, so several messages between one pair match in order.
  struct Incoming {
    bool isHeader;
    OpHeader mine;
    OpHeader theirs;
  };
  std::vector<std::deque<Incoming>> inbox(static_cast<size_t>(comm.nranks()));
  std::deque<OpHeader> sentHeaders;  // deques: posted transfers point into their elements
  for (const PointToPointOp& op : ops) {
    if (op.peer == comm.rank()) continue;
    OpHeader h;
    h.count = op.count;
    h.type = static_cast<int8_t>(op.type);
    h.root = op.peer;
    Connection& conn = comm.connection(op.peer);
    size_t bytes = op.count * op.typeSize;
    if (op.isSend) {
      h.kind = OpKind::kSend;
      h.seq = static_cast<uint32_t>(comm.nextSendSeq(op.peer));
      sentHeaders.push_back(h);
      conn.postSend(&sentHeaders.back(), sizeof(OpHeader));
      if (bytes > 0) conn.postSendDirect(op.buffer, bytes);
    } else {
      h.kind = OpKind::kRecv;
      h.seq = static_cast<uint32_t>(comm.nextRecvSeq(op.peer));
      auto& q = inbox[static_cast<size_t>(op.peer)];
      q.push_back(Incoming{true, h, {}});
      conn.postRecv(&q.back().theirs, sizeof(OpHeader));
      if (bytes > 0) {
        q.push_back(Incoming{false, h, {}});
        conn.postRecv(op.buffer, bytes);
      }
    }
  }
  for (int peer = 0; peer < comm.nranks(); ++peer) {
    auto& q = inbox[static_cast<size_t>(peer)];
    if (q.empty()) continue;
    Connection& conn = comm.connection(peer);
    auto drained = [&] {
      while (!q.empty() && conn.recvReady()) {
        if (q.front().isHeader) comm.checkMatch(peer, q.front().mine, q.front().theirs);
        conn.recvDone();
        q.pop_front();
      }
      return q.empty();
    };
    comm.wait(drained, peer, "waiting for a send from");
  }
  comm.waitAllDone();
}

}  // namespace braid
