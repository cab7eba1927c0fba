/* Links against an installed Braid: two ranks in one process, one thread driving both in a group.
 */
#include <stdio.h>

#include "collectives/braid.h"

int main(void) {
  braidComm_t comms[2];
  if (braidCommInitAll(comms, 2, NULL) != braidSuccess) {
    fprintf(stderr, "init: %s\n", braidGetLastError(NULL));
    return 1;
  }
  int values[2][3] = {{1, 2, 3}, {10, 20, 30}};
  braidGroupStart();
  for (int r = 0; r < 2; ++r)
    braidAllReduce(values[r], values[r], 3, braidInt32, braidSum, comms[r], NULL);
  if (braidGroupEnd() != braidSuccess) {
    fprintf(stderr, "allreduce: %s\n", braidGetLastError(comms[0]));
    return 1;
  }
  int ok = values[0][2] == 33 && values[1][0] == 11;
  printf("consumer: %s\n", ok ? "ok" : "wrong result");
  braidCommDestroy(comms[0]);
  braidCommDestroy(comms[1]);
  return ok ? 0 : 1;
}
