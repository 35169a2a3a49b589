/* A program built against an installed containerd-c (scripts/install.sh):
 * scripts/test-install.sh compiles it from the install prefix only, with
 * pkg-config (shared and static) and with CMake's find_package.
 *
 * Checks that the header's version macros agree with each other and with
 * the library it runs against (ctrd_version()), then prints the version of
 * the daemon at $CONTAINERD_ADDRESS and containerd-c's version. Exit status
 * 0 on success, 1 on a daemon error, 2 on a version mismatch. */
#include <stdio.h>
#include <string.h>

#include <containerd_c.h>

#define STR_(x) #x
#define STR(x) STR_(x)

int main(void) {
  const char *from_numbers =
      STR(CTRD_VERSION_MAJOR) "." STR(CTRD_VERSION_MINOR) "." STR(CTRD_VERSION_PATCH);
  if (strcmp(from_numbers, CTRD_VERSION) != 0) {
    fprintf(stderr, "header: CTRD_VERSION is %s, the numbers say %s\n", CTRD_VERSION,
            from_numbers);
    return 2;
  }
  if (strcmp(ctrd_version(), CTRD_VERSION) != 0) {
    fprintf(stderr, "header %s, library %s\n", CTRD_VERSION, ctrd_version());
    return 2;
  }

  ctrd_client *client = NULL;
  ctrd_status s = ctrd_client_connect(NULL, NULL, &client);
  char *version = NULL, *revision = NULL;
  if (s == CTRD_OK) {
    s = ctrd_client_server_version(client, &version, &revision);
  }
  if (s != CTRD_OK) {
    fprintf(stderr, "containerd: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
    ctrd_client_free(client);
    return 1;
  }
  printf("containerd %s, containerd-c %s\n", version, CTRD_VERSION);
  ctrd_string_free(version);
  ctrd_string_free(revision);
  ctrd_client_free(client);
  return 0;
}
