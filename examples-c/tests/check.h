/* Tiny assertion helpers for the C and C++ tests. */
#ifndef CTRD_TEST_CHECK_H
#define CTRD_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerd_c.h"

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) {                                                            \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__,  \
              __LINE__, #cond, ctrd_last_error());                            \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

/* The call returns `want` and, on failure, a message containing `text`. */
#define CHECK_STATUS(call, want, text)                                        \
  do {                                                                        \
    ctrd_status got_ = (call);                                                \
    if (got_ != (want) || strstr(ctrd_last_error(), (text)) == NULL) {        \
      fprintf(stderr, "%s:%d: %s returned %s (%s), want %s with \"%s\"\n",    \
              __FILE__, __LINE__, #call, ctrd_status_name(got_),              \
              ctrd_last_error(), ctrd_status_name(want), (text));             \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

#endif
