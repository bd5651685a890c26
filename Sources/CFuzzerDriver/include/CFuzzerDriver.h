#ifndef GAPWATCH_CFUZZERDRIVER_H
#define GAPWATCH_CFUZZERDRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point (compiler-rt, FuzzerInterface.h), linked by -sanitize=fuzzer. SwiftPM
/// renames an executable's main, so libFuzzer's own main is never used: the fuzz build's main calls
/// this instead. Only referenced when built with -DGAPWATCH_FUZZ, so the normal build never links it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
#endif
