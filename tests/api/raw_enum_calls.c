/* The C side of raw_enum_calls.h: ints become braidDataType_t, braidRedOp_t and braidResult_t
 * here, in C, where an enum may hold any value of its integer type. */
#include "raw_enum_calls.h"

braidResult_t rawAllReduce(const void* send, void* recv, size_t count, int type, int op,
                           braidComm_t comm) {
  return braidAllReduce(send, recv, count, (braidDataType_t)type, (braidRedOp_t)op, comm, NULL);
}

braidResult_t rawBroadcast(const void* send, void* recv, size_t count, int type, int root,
                           braidComm_t comm) {
  return braidBroadcast(send, recv, count, (braidDataType_t)type, root, comm, NULL);
}

braidResult_t rawReduce(const void* send, void* recv, size_t count, int type, int op, int root,
                        braidComm_t comm) {
  return braidReduce(send, recv, count, (braidDataType_t)type, (braidRedOp_t)op, root, comm, NULL);
}

braidResult_t rawAllGather(const void* send, void* recv, size_t count, int type, braidComm_t comm) {
  return braidAllGather(send, recv, count, (braidDataType_t)type, comm, NULL);
}

braidResult_t rawReduceScatter(const void* send, void* recv, size_t count, int type, int op,
                               braidComm_t comm) {
  return braidReduceScatter(send, recv, count, (braidDataType_t)type, (braidRedOp_t)op, comm, NULL);
}

braidResult_t rawAlltoAll(const void* send, void* recv, size_t count, int type, braidComm_t comm) {
  return braidAlltoAll(send, recv, count, (braidDataType_t)type, comm, NULL);
}

braidResult_t rawSend(const void* buf, size_t count, int type, int peer, braidComm_t comm) {
  return braidSend(buf, count, (braidDataType_t)type, peer, comm, NULL);
}

braidResult_t rawRecv(void* buf, size_t count, int type, int peer, braidComm_t comm) {
  return braidRecv(buf, count, (braidDataType_t)type, peer, comm, NULL);
}

const char* rawGetErrorString(int code) {
  return braidGetErrorString((braidResult_t)code);
}
