/* An MPI program that uses Braid for its allreduces: braidCommInitMpi makes a communicator whose
 * ranks are the MPI ranks, and every result is checked against MPI_Allreduce on the same data.
 * Run it with:  mpirun -np 4 ./example_mpi_allreduce
 * The values are small integers (also as floats), so both libraries must agree bit for bit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collectives/braid_mpi.h"

#define CHECK(call)                                                                              \
  do {                                                                                           \
    braidResult_t rc_ = (call);                                                                  \
    if (rc_ != braidSuccess) {                                                                   \
      fprintf(stderr, "%s: %s: %s\n", #call, braidGetErrorString(rc_), braidGetLastError(NULL)); \
      MPI_Abort(MPI_COMM_WORLD, 1);                                                              \
    }                                                                                            \
  } while (0)

/* A value in [-500, 500] that differs by rank and index, so max picks different ranks. */
static int32_t valueAt(int rank, size_t i) {
  return (int32_t)((i * 7919u + (size_t)rank * 104729u) % 1001u) - 500;
}

/* Runs one allreduce through Braid and through MPI; returns the number of differing elements. */
static size_t compareAllReduce(braidComm_t comm, int rank, size_t count, int isFloat,
                               braidRedOp_t braidOp, MPI_Op mpiOp) {
  size_t elementBytes = isFloat ? sizeof(float) : sizeof(int32_t);
  void* send = malloc(count * elementBytes);
  void* viaBraid = malloc(count * elementBytes);
  void* viaMpi = malloc(count * elementBytes);
  if (!send || !viaBraid || !viaMpi) {
    fprintf(stderr, "rank %d: out of memory for %zu elements\n", rank, count);
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  for (size_t i = 0; i < count; ++i) {
    if (isFloat) {
      ((float*)send)[i] = (float)valueAt(rank, i);
    } else {
      ((int32_t*)send)[i] = valueAt(rank, i);
    }
  }
  CHECK(braidAllReduce(send, viaBraid, count, isFloat ? braidFloat32 : braidInt32, braidOp, comm,
                       NULL));
  MPI_Allreduce(send, viaMpi, (int)count, isFloat ? MPI_FLOAT : MPI_INT32_T, mpiOp, MPI_COMM_WORLD);
  size_t wrong = 0;
  for (size_t i = 0; i < count; ++i) {
    if (memcmp((char*)viaBraid + i * elementBytes, (char*)viaMpi + i * elementBytes,
               elementBytes) != 0) {
      ++wrong;
    }
  }
  free(send);
  free(viaBraid);
  free(viaMpi);
  return wrong;
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int mpiRank, mpiSize;
  MPI_Comm_rank(MPI_COMM_WORLD, &mpiRank);
  MPI_Comm_size(MPI_COMM_WORLD, &mpiSize);

  braidComm_t comm;
  CHECK(braidCommInitMpi(MPI_COMM_WORLD, &comm));
  int rank, nranks;
  CHECK(braidCommUserRank(comm, &rank));
  CHECK(braidCommCount(comm, &nranks));
  size_t wrong = (rank != mpiRank || nranks != mpiSize) ? 1 : 0;

  static const size_t kCounts[] = {1, 7, 4096, 1000003};
  static const struct {
    const char* name;
    braidRedOp_t braidOp;
  } kOps[] = {{"sum", braidSum}, {"max", braidMax}};
  int checks = 0;
  for (size_t c = 0; c < sizeof(kCounts) / sizeof(kCounts[0]); ++c) {
    for (int isFloat = 0; isFloat <= 1; ++isFloat) {
      for (int o = 0; o < 2; ++o) {
        MPI_Op mpiOp = kOps[o].braidOp == braidSum ? MPI_SUM : MPI_MAX;
        size_t bad = compareAllReduce(comm, rank, kCounts[c], isFloat, kOps[o].braidOp, mpiOp);
        if (bad != 0) {
          fprintf(stderr, "rank %d: %s %s count %zu: %zu elements differ from MPI_Allreduce\n",
                  rank, isFloat ? "float" : "int32", kOps[o].name, kCounts[c], bad);
        }
        wrong += bad;
        ++checks;
      }
    }
  }
  printf("rank %d of %d (MPI rank %d of %d): %d allreduces, %s\n", rank, nranks, mpiRank, mpiSize,
         checks, wrong == 0 ? "all match MPI_Allreduce" : "MISMATCH");
  fflush(stdout);
  CHECK(braidCommDestroy(comm));

  /* Every rank exits with the same status, so mpirun reports a mismatch anywhere. */
  int anyWrong = wrong != 0, worldWrong = 0;
  MPI_Allreduce(&anyWrong, &worldWrong, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worldWrong ? 1 : 0;
}
