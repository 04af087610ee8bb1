/* check.h - the tiny assertion kit of the C unit programs.
 *
 * CHECK(cond) counts a pass, or prints the failed condition with its line and counts a
 * failure.  Each program ends by printing "N passed, N failed" (the line the test runner
 * and CI read) and exits non-zero when anything failed.
 */
#ifndef SC_TEST_CHECK_H
#define SC_TEST_CHECK_H
#include <stdio.h>

static int passed, failed;
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#endif
