/* expect.h: the check every behaviour-per-test C program shares (log, heartbeat packet and engine
 * suites). A test sets `current` to the sentence it checks; expect() counts a pass, or counts a failure
 * and prints it with that sentence (the first 60 only, so one broken invariant cannot bury the rest).
 * main() prints "N passed, N failed" from the counters, which CI reads. Included once per program. */
#ifndef STEADFAST_TEST_EXPECT_H
#define STEADFAST_TEST_EXPECT_H

#include <stdarg.h>
#include <stdio.h>

static int passed, failed;
static const char *current = "";

static void expect(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect(int ok, const char *fmt, ...) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  if (failed > 60) return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL [%s] ", current);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

#endif /* STEADFAST_TEST_EXPECT_H */
