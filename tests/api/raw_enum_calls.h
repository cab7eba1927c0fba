/* Calls into the C API with data types, ops and result codes given as plain ints, the way a C
 * caller can pass any value. C++ code may not hold an out-of-range enum value (it is undefined
 * behaviour, and UBSan stops on it), so the casts happen in C, where they are well defined. */
#ifndef BRAID_TESTS_API_RAW_ENUM_CALLS_H_
#define BRAID_TESTS_API_RAW_ENUM_CALLS_H_

#include <stddef.h>

#include "collectives/braid.h"

#ifdef __cplusplus
extern "C" {
#endif

braidResult_t rawAllReduce(const void* send, void* recv, size_t count, int type, int op,
                           braidComm_t comm);
braidResult_t rawBroadcast(const void* send, void* recv, size_t count, int type, int root,
                           braidComm_t comm);
braidResult_t rawReduce(const void* send, void* recv, size_t count, int type, int op, int root,
                        braidComm_t comm);
braidResult_t rawAllGather(const void* send, void* recv, size_t count, int type, braidComm_t comm);
braidResult_t rawReduceScatter(const void* send, void* recv, size_t count, int type, int op,
                               braidComm_t comm);
braidResult_t rawAlltoAll(const void* send, void* recv, size_t count, int type, braidComm_t comm);
braidResult_t rawSend(const void* buf, size_t count, int type, int peer, braidComm_t comm);
braidResult_t rawRecv(void* buf, size_t count, int type, int peer, braidComm_t comm);
const char* rawGetErrorString(int code);

#ifdef __cplusplus
}
#endif

#endif /* BRAID_TESTS_API_RAW_ENUM_CALLS_H_ */
