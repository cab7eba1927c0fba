// braid-info's cost-model commands (braid_info_tuning.cc).
#pragma once

// --tuning [options]: the cost model's constants and its predicted time per algorithm and size.
int printTuning(int argc, char** argv);
// --calibrate FILE: measures the constants on this machine and writes them to FILE.
int calibrate(const char* file);
// --calibrate-link FILE, run as 2 ranks by a launcher (braidrun, or mpirun with BRAID_COMM_ID):
// measures the link between them (tcp or ib across hosts) and writes that link's constants.
int calibrateLink(const char* file);
