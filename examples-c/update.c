/* Changes a running container's memory limit — `ctr tasks update
 * --memory-limit` in C: loads the container and its task and sends an OCI
 * LinuxResources object with the new limit.
 *
 *   update ID BYTES
 *
 * Uses $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "containerd_c.h"

static int fail(const char *what, ctrd_status s) {
  fprintf(stderr, "update: %s: %s: %s\n", what, ctrd_status_name(s), ctrd_last_error());
  return 1;
}

int main(int argc, char **argv) {
  char *end = NULL;
  errno = 0;
  long long bytes = argc == 3 ? strtoll(argv[2], &end, 10) : 0;
  if (argc != 3 || end == argv[2] || *end != '\0' || errno != 0 || bytes <= 0) {
    fprintf(stderr, "usage: update ID BYTES   (BYTES: the new memory limit, > 0)\n");
    return 2;
  }
  char resources[96];
  snprintf(resources, sizeof resources, "{\"memory\":{\"limit\":%lld}}", bytes);

  ctrd_status s;
  int rc = 1;
  ctrd_client *client = NULL;
  ctrd_container *container = NULL;
  ctrd_task *task = NULL;
  if ((s = ctrd_client_connect(NULL, NULL, &client)) != CTRD_OK) return fail("connect", s);
  if ((s = ctrd_container_load(client, argv[1], &container)) != CTRD_OK) {
    rc = fail("container", s);
    goto out;
  }
  if ((s = ctrd_container_load_task(container, &task)) != CTRD_OK) {
    rc = fail("task", s);
    goto out;
  }
  if ((s = ctrd_task_update(task, resources)) != CTRD_OK) {
    rc = fail("update", s);
    goto out;
  }
  printf("%s: memory limit %lld bytes\n", argv[1], bytes);
  rc = 0;

out:
  ctrd_task_free(task);
  ctrd_container_free(container);
  ctrd_client_free(client);
  return rc;
}
