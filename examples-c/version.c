/* Prints the version of the containerd daemon at $CONTAINERD_ADDRESS (or the
 * default socket). The smallest complete use of containerd-c. */
#include <stdio.h>

#include "containerd_c.h"

int main(void) {
  ctrd_client *client = NULL;
  ctrd_status s = ctrd_client_connect(NULL, NULL, &client);
  if (s != CTRD_OK) {
    fprintf(stderr, "connect: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
    return 1;
  }
  char *version = NULL, *revision = NULL;
  s = ctrd_client_server_version(client, &version, &revision);
  if (s != CTRD_OK) {
    fprintf(stderr, "version: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
    ctrd_client_free(client);
    return 1;
  }
  printf("containerd %s (revision %s), containerd-c %s\n", version, revision, ctrd_version());
  ctrd_string_free(version);
  ctrd_string_free(revision);
  ctrd_client_free(client);
  return 0;
}
