/**
 * A shell command for RUN steps that prints a value no two executions share, so a test can tell
 * a step that ran again from one taken from the cache. `date +%s%N` is not such a value: busybox's
 * date has no %N and prints whole seconds followed by a literal "%N", which two runs within one
 * second share, and that made a cache test pass or fail by the clock.
 */
export const RUN_STAMP = 'od -An -N16 -tx1 /dev/urandom';
