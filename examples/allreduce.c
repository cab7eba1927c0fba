/* The smallest Braid program: every rank adds its rank number into a buffer with braidAllReduce.
 * Run it with the local launcher:  braidrun -n 4 ./example_allreduce */
#include <stdio.h>
#include <stdlib.h>

#include "collectives/braid.h"

#define CHECK(call)                                                                              \
  do {                                                                                           \
    braidResult_t rc_ = (call);                                                                  \
    if (rc_ != braidSuccess) {                                                                   \
      fprintf(stderr, "%s: %s: %s\n", #call, braidGetErrorString(rc_), braidGetLastError(NULL)); \
      exit(1);                                                                                   \
    }                                                                                            \
  } while (0)

int main(void) {
  braidComm_t comm;
  CHECK(braidCommInitFromEnv(&comm, NULL)); /* BRAID_COMM_ID, RANK, WORLD_SIZE */
  int rank, nranks;
  CHECK(braidCommUserRank(comm, &rank));
  CHECK(braidCommCount(comm, &nranks));

  float data[4] = {(float)rank, (float)rank, (float)rank, (float)rank};
  CHECK(braidAllReduce(data, data, 4, braidFloat, braidSum, comm, NULL)); /* in place */

  float expected = (float)(nranks * (nranks - 1) / 2);
  printf("rank %d: %g (expected %g)\n", rank, data[0], expected);
  CHECK(braidCommDestroy(comm));
  return data[0] == expected ? 0 : 1;
}
