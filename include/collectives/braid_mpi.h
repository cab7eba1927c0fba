/*
 * braid_mpi.h: joining a Braid communicator from an MPI program (libbraid_mpi).
 *
 * A separate library so that libbraid itself never depends on MPI: link Braid::braid_mpi (CMake)
 * or -lbraid_mpi -lbraid plus your MPI's flags. Installed only where Braid was built with MPI.
 * MPI only carries the rendezvous: the collectives themselves run over Braid's own transports.
 */
#ifndef BRAID_MPI_H_
#define BRAID_MPI_H_

#include <mpi.h>

#include "collectives/braid.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Makes a Braid communicator over the processes of mpiComm. Collective over mpiComm, and MPI must
 * be initialised: rank 0 calls braidGetUniqueId(), MPI_Bcast hands the id to every rank, and each
 * calls braidCommInitRank(comm, size, id, rank). The returned communicator's ranks equal the MPI
 * ranks in mpiComm, and its size is mpiComm's size. If rank 0 cannot create the id, every rank
 * returns rank 0's error (nobody is left waiting). braidInvalidArgument for a NULL comm or
 * MPI_COMM_NULL, braidInvalidUsage before MPI_Init or after MPI_Finalize, braidSystemError when an
 * MPI call fails (with an error handler that returns). mpiComm stays usable and is not retained:
 * free it or finalize MPI whenever you like after this returns. */
braidResult_t braidCommInitMpi(MPI_Comm mpiComm, braidComm_t* comm);

/* As braidCommInitMpi, with braidCommInitRankConfig's config (may be NULL). */
braidResult_t braidCommInitMpiConfig(MPI_Comm mpiComm, braidComm_t* comm,
                                     const braidConfig_t* config);

#ifdef __cplusplus
}
#endif

#endif /* BRAID_MPI_H_ */
