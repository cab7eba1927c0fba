/*
 * braid_mpi.c: braidCommInitMpi, the MPI rendezvous for Braid communicators (libbraid_mpi).
 *
 * Kept out of src/ so libbraid never links MPI. It uses only the public C API: rank 0 makes the
 * unique id, one MPI_Bcast carries it with rank 0's status, and every rank joins with its MPI rank.
 */
#include "collectives/braid_mpi.h"

#include <string.h>

/* What rank 0 broadcasts: its braidGetUniqueId status travels with the id, so a failure there
 * reaches every rank instead of leaving them waiting on a root that never started. */
typedef struct {
  int result; /* a braidResult_t */
  braidUniqueId id;
} BootstrapMessage;

braidResult_t braidCommInitMpiConfig(MPI_Comm mpiComm, braidComm_t* comm,
                                     const braidConfig_t* config) {
  if (comm == NULL || mpiComm == MPI_COMM_NULL) return braidInvalidArgument;
  *comm = NULL;
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return braidInvalidUsage;

  int rank = 0, size = 0;
  if (MPI_Comm_rank(mpiComm, &rank) != MPI_SUCCESS) return braidSystemError;
  if (MPI_Comm_size(mpiComm, &size) != MPI_SUCCESS) return braidSystemError;

  BootstrapMessage message;
  memset(&message, 0, sizeof(message));
  if (rank == 0) message.result = (int)braidGetUniqueId(&message.id);
  if (MPI_Bcast(&message, (int)sizeof(message), MPI_BYTE, 0, mpiComm) != MPI_SUCCESS) {
    return braidSystemError;
  }
  if (message.result != braidSuccess) return (braidResult_t)message.result;
  if (config == NULL) return braidCommInitRank(comm, size, message.id, rank);
  return braidCommInitRankConfig(comm, size, message.id, rank, config);
}

braidResult_t braidCommInitMpi(MPI_Comm mpiComm, braidComm_t* comm) {
  return braidCommInitMpiConfig(mpiComm, comm, NULL);
}
