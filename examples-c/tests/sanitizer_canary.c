/* Proves the sanitizer build catches what it should (built only with
 * -DCTRD_SANITIZE=ON): it leaks a string the Rust library allocated, which
 * LeakSanitizer must report, and then reads past a heap block of the
 * library's, which AddressSanitizer must report. ctest passes only when both
 * reports show (the "leak" and "overflow" tests). */
#include <string.h>

#include "check.h"

int main(int argc, char **argv) {
  char *out = NULL;
  CHECK(argc == 2);
  CHECK(ctrd_spec_patch("{\"ociVersion\":\"1.0.2\"}", "{\"hostname\":\"h\"}", &out) ==
        CTRD_OK);
  if (strcmp(argv[1], "overflow") == 0) {
    size_t n = strlen(out);
    volatile char past = out[n + 64]; /* beyond the block: ASan must stop here */
    (void)past;
    ctrd_string_free(out);
    return 0;
  }
  out = NULL; /* the only pointer is gone: LeakSanitizer must report it */
  return 0;
}
