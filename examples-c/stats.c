/* Prints a running container's resource usage — a small `ctr tasks metrics`
 * in C: loads the container and its task, reads the task's metrics as JSON
 * and picks out a few numbers with plain string search (no JSON library).
 *
 *   stats ID
 *
 * Uses $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "containerd_c.h"

static int fail(const char *what, ctrd_status s) {
  fprintf(stderr, "stats: %s: %s: %s\n", what, ctrd_status_name(s), ctrd_last_error());
  return 1;
}

/* The number at `path` (member names, outermost first) in `json`, found by
 * searching each `"name":` after the previous one: enough for these names,
 * which the metrics JSON does not repeat before the one wanted (an object
 * member is named with its opening brace, e.g. "usage\":{"). Writes "-"
 * when there is none. */
static void field(const char *json, const char *const *path, char *out, size_t size) {
  const char *at = json;
  char key[64];
  for (; *path != NULL && at != NULL; path++) {
    snprintf(key, sizeof key, "\"%s", *path);
    at = strstr(at, key);
    if (at != NULL) at += strlen(key);
  }
  size_t n = at == NULL ? 0 : strspn(at, "0123456789");
  if (n == 0 || n >= size) {
    snprintf(out, size, "-");
    return;
  }
  memcpy(out, at, n);
  out[n] = '\0';
}

static void row(const char *json, const char *name, const char *const *path) {
  char value[32];
  field(json, path, value, sizeof value);
  printf("%-22s %s\n", name, value);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: stats ID\n");
    return 2;
  }
  ctrd_status s;
  int rc = 1;
  ctrd_client *client = NULL;
  ctrd_container *container = NULL;
  ctrd_task *task = NULL;
  char *json = NULL;

  if ((s = ctrd_client_connect(NULL, NULL, &client)) != CTRD_OK) return fail("connect", s);
  if ((s = ctrd_container_load(client, argv[1], &container)) != CTRD_OK) {
    rc = fail("container", s);
    goto out;
  }
  if ((s = ctrd_container_load_task(container, &task)) != CTRD_OK) {
    rc = fail("task", s);
    goto out;
  }
  if ((s = ctrd_task_metrics_json(task, &json)) != CTRD_OK) {
    rc = fail("metrics", s);
    goto out;
  }

  printf("%-22s %s\n", "ID", argv[1]);
  printf("%-22s %s\n", "METRIC", "VALUE");
  if (strstr(json, "\"type\":\"io.containerd.cgroups.v1.Metrics\"") != NULL) {
    row(json, "cpu.usage_ns", (const char *const[]){"cpu\":{", "usage\":{", "total\":", NULL});
    row(json, "memory.usage_bytes",
        (const char *const[]){"memory\":{", "usage\":{", "usage\":", NULL});
    row(json, "memory.limit_bytes",
        (const char *const[]){"memory\":{", "usage\":{", "limit\":", NULL});
  } else if (strstr(json, "\"type\":\"io.containerd.cgroups.v2.Metrics\"") != NULL) {
    row(json, "cpu.usage_usec", (const char *const[]){"cpu\":{", "usageUsec\":", NULL});
    row(json, "memory.usage_bytes", (const char *const[]){"memory\":{", "usage\":", NULL});
    row(json, "memory.limit_bytes", (const char *const[]){"memory\":{", "usageLimit\":", NULL});
  } else {
    fprintf(stderr, "stats: metrics of an unknown type: %s\n", json);
    goto out;
  }
  row(json, "pids.current", (const char *const[]){"pids\":{", "current\":", NULL});
  row(json, "pids.limit", (const char *const[]){"pids\":{", "limit\":", NULL});
  rc = 0;

out:
  ctrd_string_free(json);
  ctrd_task_free(task);
  ctrd_container_free(container);
  ctrd_client_free(client);
  return rc;
}
