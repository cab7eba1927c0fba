/*
 * braid.h: the public C API of Braid, a collective communication library.
 *
 * One C99 header with a stable ABI. Every function returns a braidResult_t; the human-readable
 * detail of a failure is available from braidGetLastError(). Signatures follow NCCL's so that a
 * framework ports with a rename.
 *
 * Buffers may live in host memory or (once the CUDA support lands) CUDA device memory; the library
 * finds out which. Host-buffer calls take a NULL stream and complete before they return, or, inside
 * braidGroupStart()/braidGroupEnd(), when braidGroupEnd() returns.
 *
 * Reductions on float16, bfloat16 and the fp8 types are computed in float32 and rounded back to the
 * element type once per reduction step (so an n-rank ring rounds n-1 times). Conversions round to
 * nearest even; values beyond a type's finite range saturate to its largest finite value.
 * braidAvg divides the sum by the rank count once, at the end; for integer types the division
 * truncates toward zero and the sum wraps modulo 2^bits like the other integer ops.
 */
#ifndef BRAID_H_
#define BRAID_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRAID_MAJOR 0
#define BRAID_MINOR 1
#define BRAID_PATCH 0
#define BRAID_VERSION_CODE (BRAID_MAJOR * 10000 + BRAID_MINOR * 100 + BRAID_PATCH)

/* ---------------------------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  braidSuccess = 0,
  braidUnhandledCudaError = 1, /* a CUDA call failed */
  braidSystemError = 2,        /* an OS call failed (socket, memory, ...) */
  braidInternalError = 3,      /* a bug in Braid */
  braidInvalidArgument = 4,    /* a bad argument: null pointer, bad type, overlapping buffers... */
  braidInvalidUsage = 5,       /* a bad call sequence, e.g. ranks calling different collectives */
  braidRemoteError = 6,        /* a peer failed, died or closed its connection */
  braidInProgress = 7,         /* a non-blocking operation has not finished yet */
  braidTimeout = 8,            /* a wait exceeded BRAID_TIMEOUT_MS (or the config's timeoutMs) */
  braidNumResults = 9
} braidResult_t;

/* ---------------------------------------------------------------------------------------------
 * Types and reduction operations
 * ------------------------------------------------------------------------------------------- */
typedef enum {
  braidInt8 = 0,
  braidChar = 0,
  braidUint8 = 1,
  braidInt32 = 2,
  braidInt = 2,
  braidUint32 = 3,
  braidInt64 = 4,
  braidUint64 = 5,
  braidFloat16 = 6,
  braidHalf = 6,
  braidFloat32 = 7,
  braidFloat = 7,
  braidFloat64 = 8,
  braidDouble = 8,
  braidBfloat16 = 9,
  braidFloat8e4m3 = 10,
  braidFloat8e5m2 = 11,
  braidNumTypes = 12
} braidDataType_t;

typedef enum {
  braidSum = 0,
  braidProd = 1,
  braidMax = 2,
  braidMin = 3,
  braidAvg = 4,
  braidNumOps = 5
} braidRedOp_t;

/* ---------------------------------------------------------------------------------------------
 * Communicators
 * ------------------------------------------------------------------------------------------- */
typedef struct braidComm* braidComm_t;

/* A stream handle: a cudaStream_t for device-buffer calls, NULL for host-buffer calls. A void*
 * keeps this header free of CUDA includes. */
typedef void* braidStream_t;

#define BRAID_UNIQUE_ID_BYTES 128
/* Opaque: the rendezvous root's address and a random 64-bit magic. Copy it to every rank. */
typedef struct {
  char internal[BRAID_UNIQUE_ID_BYTES];
} braidUniqueId;

#define BRAID_CONFIG_UNDEF_INT (-2147483647 - 1)
#define BRAID_CONFIG_MAGIC 0xb7a1d001u

/* Per-communicator settings. Initialise with BRAID_CONFIG_INITIALIZER, then set what you need;
 * fields left undefined take the environment's (or the built-in) value. The size/magic/version
 * header lets later versions add fields without breaking callers built against this one. */
typedef struct {
  size_t size;           /* sizeof(braidConfig_t) as the caller was built */
  unsigned int magic;    /* BRAID_CONFIG_MAGIC */
  unsigned int version;  /* BRAID_VERSION_CODE as the caller was built */
  int blocking;          /* 1 (default): init returns when the communicator is ready */
  int timeoutMs;         /* every wait's limit in ms; 0 waits forever (default BRAID_TIMEOUT_MS) */
  const char* algo;      /* algorithm override, same grammar as BRAID_ALGO; NULL: tuner decides */
  const char* proto;     /* protocol override, as BRAID_PROTO; NULL: tuner decides */
  const char* transport; /* force one transport (e.g. "tcp"), as BRAID_TRANSPORT */
  const char* commName;  /* a name shown in log lines and error messages */
} braidConfig_t;

#define BRAID_CONFIG_INITIALIZER                                                           \
  {                                                                                        \
    sizeof(braidConfig_t), BRAID_CONFIG_MAGIC, BRAID_VERSION_CODE, BRAID_CONFIG_UNDEF_INT, \
        BRAID_CONFIG_UNDEF_INT, NULL, NULL, NULL, NULL                                     \
  }

/* Marks a rank that takes no part in the communicator braidCommSplit() makes. */
#define BRAID_SPLIT_NOCOLOR (-1)

/* Version as BRAID_VERSION_CODE. */
braidResult_t braidGetVersion(int* version);

/* Starts a rendezvous root in this process and describes it in *uniqueId. Call once, on one rank,
 * and hand the id to every rank (through MPI, a file, ...). The root serves one communicator. */
braidResult_t braidGetUniqueId(braidUniqueId* uniqueId);

/* Joins rank `rank` of `nranks` to the communicator named by commId. Collective over all ranks. */
braidResult_t braidCommInitRank(braidComm_t* comm, int nranks, braidUniqueId commId, int rank);
braidResult_t braidCommInitRankConfig(braidComm_t* comm, int nranks, braidUniqueId commId, int rank,
                                      const braidConfig_t* config);

/* Makes all ndev ranks of one communicator inside this process; comms[i] is rank i. Drive each
 * from its own thread, or call them all inside one braidGroupStart()/braidGroupEnd(). devlist
 * gives each rank's CUDA device and may be NULL (host-only ranks). */
braidResult_t braidCommInitAll(braidComm_t* comms, int ndev, const int* devlist);

/* Joins a communicator described by the environment: BRAID_COMM_ID=host:port with RANK and
 * WORLD_SIZE (or OMPI_COMM_WORLD_RANK/SIZE, PMI_RANK/PMI_SIZE, SLURM_PROCID/SLURM_NTASKS), or
 * torchrun's MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE. Rank 0 hosts the rendezvous root on
 * that address. config may be NULL. */
braidResult_t braidCommInitFromEnv(braidComm_t* comm, const braidConfig_t* config);

/* MPI_Comm_split semantics: ranks with the same color form one new communicator, ordered by key
 * then by old rank. color BRAID_SPLIT_NOCOLOR yields *newcomm == NULL. Collective over comm. */
braidResult_t braidCommSplit(braidComm_t comm, int color, int key, braidComm_t* newcomm,
                             const braidConfig_t* config);

/* Waits for outstanding work on comm to finish (immediate for host buffers). */
braidResult_t braidCommFinalize(braidComm_t comm);
/* Frees comm. Not collective; pending work is cut off. */
braidResult_t braidCommDestroy(braidComm_t comm);
/* Ends every wait on comm within a second (callable from any thread), then frees it. */
braidResult_t braidCommAbort(braidComm_t comm);
/* The error that put comm in a failed state, or braidSuccess. */
braidResult_t braidCommGetAsyncError(braidComm_t comm, braidResult_t* asyncError);

braidResult_t braidCommCount(const braidComm_t comm, int* count);
braidResult_t braidCommCuDevice(const braidComm_t comm, int* device); /* -1: host-only rank */
braidResult_t braidCommUserRank(const braidComm_t comm, int* rank);
/* Braid extensions, for tools and benchmarks that report what ran. Both strings are static.
 * The transport comm uses to reach rank `peer`: "shm", "tcp" or "ib" ("self" for comm's own
 * rank). */
braidResult_t braidCommPeerTransport(const braidComm_t comm, int peer, const char** transport);
/* The algorithm the most recent collective on comm ran ("ring", "recdbl", ...; "" before any). */
braidResult_t braidCommLastAlgorithm(const braidComm_t comm, const char** algorithm);

/* A static description of a result code. */
const char* braidGetErrorString(braidResult_t result);
/* The message of the last failure on comm in this thread, or of the last failure of a call with
 * no usable communicator when comm is NULL. Empty when there was none. */
const char* braidGetLastError(braidComm_t comm);

/* ---------------------------------------------------------------------------------------------
 * Collectives: ranks must call them in the same order with matching arguments. A mismatch fails
 * on every rank with braidInvalidUsage and names both calls. In-place: sendbuff == recvbuff (for
 * allgather, sendbuff == recvbuff + rank*sendcount; for reduce-scatter,
 * sendbuff + rank*recvcount == recvbuff).
 * ------------------------------------------------------------------------------------------- */
braidResult_t braidAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                             braidDataType_t datatype, braidRedOp_t op, braidComm_t comm,
                             braidStream_t stream);
/* recvbuff (count elements) on every rank gets root's sendbuff. sendbuff is read on root only. */
braidResult_t braidBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                             braidDataType_t datatype, int root, braidComm_t comm,
                             braidStream_t stream);
/* recvbuff on root gets the reduction; recvbuff is ignored elsewhere and may be NULL there. */
braidResult_t braidReduce(const void* sendbuff, void* recvbuff, size_t count,
                          braidDataType_t datatype, braidRedOp_t op, int root, braidComm_t comm,
                          braidStream_t stream);
/* recvbuff (nranks * sendcount elements) gets every rank's sendbuff in rank order. */
braidResult_t braidAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                             braidDataType_t datatype, braidComm_t comm, braidStream_t stream);
/* sendbuff holds nranks * recvcount elements; rank r gets the reduction of block r. */
braidResult_t braidReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                 braidDataType_t datatype, braidRedOp_t op, braidComm_t comm,
                                 braidStream_t stream);
/* Block j (count elements) of sendbuff goes to rank j, landing in its block `rank`. Not
 * in-place: the buffers may not overlap. */
braidResult_t braidAlltoAll(const void* sendbuff, void* recvbuff, size_t count,
                            braidDataType_t datatype, braidComm_t comm, braidStream_t stream);
/* Every rank waits until all ranks have called it. */
braidResult_t braidBarrier(braidComm_t comm, braidStream_t stream);

/* Point to point. Outside a group a send may wait for its matching receive; pair sends and
 * receives that could wait on each other inside braidGroupStart()/braidGroupEnd(). */
braidResult_t braidSend(const void* sendbuff, size_t count, braidDataType_t datatype, int peer,
                        braidComm_t comm, braidStream_t stream);
braidResult_t braidRecv(void* recvbuff, size_t count, braidDataType_t datatype, int peer,
                        braidComm_t comm, braidStream_t stream);

/* Groups: calls between start and end are queued (per thread) and run together at end, so
 * send/receive patterns cannot deadlock. Several communicators of one process (braidCommInitAll)
 * may be driven from one thread this way. Groups nest; the outermost end runs them. */
braidResult_t braidGroupStart(void);
braidResult_t braidGroupEnd(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BRAID_H_ */
