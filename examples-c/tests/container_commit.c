/* ctrd_container_commit from C: the file an exited task wrote is in the
 * committed image (a container of it reads it back), whose config has one
 * more diff id; a running task is running again after a commit (paused for
 * it) and after one with CTRD_COMMIT_NO_PAUSE; an existing name is
 * CTRD_ERR_ALREADY_EXISTS naming it; a container without a snapshot is
 * CTRD_ERR_FAILED_PRECONDITION; bad input is CTRD_ERR_INVALID_ARGUMENT with
 * a message. Names carry the pid: ctest may run tests side by side. */
#include <unistd.h>

#include "check.h"

#define IMAGE "docker.io/library/ctrd-test:latest"

/* A container `id` of `image` running `argv`, on its own snapshot. */
static ctrd_container *make(ctrd_client *client, const char *id, const char *image,
                            const char *const *argv) {
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, image, argv, &spec) == CTRD_OK);
  CHECK(ctrd_snapshot_prepare_from_image(client, image, NULL, id) == CTRD_OK);
  ctrd_container_opts opts = ctrd_container_opts_default();
  opts.id = id;
  opts.spec_json = spec;
  opts.image = image;
  opts.snapshot_key = id;
  ctrd_container *k = NULL;
  CHECK(ctrd_container_create(client, &opts, &k) == CTRD_OK);
  ctrd_string_free(spec);
  return k;
}

static ctrd_task *start(ctrd_container *k) {
  ctrd_task *t = NULL;
  CHECK(ctrd_container_new_task(k, NULL, &t) == CTRD_OK);
  CHECK(ctrd_task_start(t) == CTRD_OK);
  return t;
}

static ctrd_task_state state_of(ctrd_task *t) {
  ctrd_task_state s = CTRD_TASK_UNKNOWN;
  CHECK(ctrd_task_status(t, &s, NULL) == CTRD_OK);
  return s;
}

static uint32_t wait_exit(ctrd_task *t) {
  uint32_t code = 12345;
  CHECK(ctrd_task_wait(t, 30000, &code) == CTRD_OK);
  return code;
}

static void end(ctrd_task *t, ctrd_container *k) {
  uint32_t code = 0;
  if (t != NULL) {
    CHECK(ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, &code) == CTRD_OK);
    ctrd_task_free(t);
  }
  CHECK(ctrd_container_delete(k, 0) == CTRD_OK);
  ctrd_container_free(k);
}

static size_t diff_ids(ctrd_image *i) {
  char *json = NULL;
  CHECK(ctrd_image_config_json(i, &json) == CTRD_OK);
  size_t n = 0;
  const char *p = strstr(json, "\"diff_ids\"");
  CHECK(p != NULL);
  for (p = strchr(p, '['); *p != ']'; p++) n += *p == ':' ? 1 : 0; /* "sha256:..." */
  ctrd_string_free(json);
  return n;
}

int main(void) {
  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  int pid = (int)getpid();
  char id[64], reader[64], runner[64], bare[64], name[200], name2[200];
  snprintf(id, sizeof id, "commit-%d", pid);
  snprintf(reader, sizeof reader, "commit-read-%d", pid);
  snprintf(runner, sizeof runner, "commit-run-%d", pid);
  snprintf(bare, sizeof bare, "commit-bare-%d", pid);
  snprintf(name, sizeof name, "docker.io/library/ctrd-c-committed-%d:1", pid);
  snprintf(name2, sizeof name2, "docker.io/library/ctrd-c-committed-%d:2", pid);

  /* An exited task's file, committed. */
  const char *write_argv[] = {"sh", "-c", "echo hi > /committed", NULL};
  ctrd_container *k = make(client, id, IMAGE, write_argv);
  ctrd_task *t = start(k);
  CHECK(wait_exit(t) == 0);
  ctrd_image *base = NULL, *committed = NULL;
  CHECK(ctrd_image_get(client, IMAGE, &base) == CTRD_OK);
  CHECK(ctrd_container_commit(k, name, 0, &committed) == CTRD_OK);
  CHECK(strcmp(ctrd_image_name(committed), name) == 0);
  CHECK(diff_ids(committed) == diff_ids(base) + 1);
  bool unpacked = false;
  CHECK(ctrd_image_is_unpacked(committed, NULL, &unpacked) == CTRD_OK && unpacked);
  printf("%s %s\n", ctrd_image_name(committed), ctrd_image_digest(committed));
  ctrd_image_free(committed);
  ctrd_image_free(base);

  /* An existing name: refused, naming it. */
  committed = NULL;
  CHECK_STATUS(ctrd_container_commit(k, name, 0, &committed), CTRD_ERR_ALREADY_EXISTS,
               "already exists");
  CHECK(strstr(ctrd_last_error(), name) != NULL && committed == NULL);
  end(t, k);

  /* A container of the committed image has the file. */
  const char *read_argv[] = {"sh", "-c", "test \"$(cat /committed)\" = hi", NULL};
  k = make(client, reader, name, read_argv);
  t = start(k);
  CHECK(wait_exit(t) == 0);
  end(t, k);

  /* A running task: running again after a commit, and after one without
   * pausing. */
  const char *sleep_argv[] = {"sleep", "1000", NULL};
  k = make(client, runner, IMAGE, sleep_argv);
  t = start(k);
  CHECK(ctrd_container_commit(k, name2, 0, &committed) == CTRD_OK);
  ctrd_image_free(committed);
  CHECK(state_of(t) == CTRD_TASK_RUNNING);
  CHECK(ctrd_image_delete(client, name2, 0) == CTRD_OK);
  CHECK(ctrd_container_commit(k, name2, CTRD_COMMIT_NO_PAUSE, &committed) == CTRD_OK);
  ctrd_image_free(committed);
  CHECK(state_of(t) == CTRD_TASK_RUNNING);

  /* Bad input. */
  committed = NULL;
  CHECK_STATUS(ctrd_container_commit(NULL, name, 0, &committed), CTRD_ERR_INVALID_ARGUMENT,
               "container is NULL");
  CHECK_STATUS(ctrd_container_commit(k, NULL, 0, &committed), CTRD_ERR_INVALID_ARGUMENT,
               "image_name is NULL");
  CHECK_STATUS(ctrd_container_commit(k, "", 0, &committed), CTRD_ERR_INVALID_ARGUMENT,
               "image_name is empty");
  CHECK_STATUS(ctrd_container_commit(k, name, 0, NULL), CTRD_ERR_INVALID_ARGUMENT,
               "out is NULL");
  CHECK_STATUS(ctrd_container_commit(k, name, CTRD_COMMIT_NO_PAUSE | 6u, &committed),
               CTRD_ERR_INVALID_ARGUMENT, "unknown flags 0x6");
  CHECK(committed == NULL);
  end(t, k);

  /* A container without a snapshot. */
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, bare, IMAGE, NULL, &spec) == CTRD_OK);
  ctrd_container_opts opts = ctrd_container_opts_default();
  opts.id = bare;
  opts.spec_json = spec;
  opts.image = IMAGE;
  CHECK(ctrd_container_create(client, &opts, &k) == CTRD_OK);
  ctrd_string_free(spec);
  CHECK_STATUS(ctrd_container_commit(k, "docker.io/library/ctrd-c-never:1", 0, &committed),
               CTRD_ERR_FAILED_PRECONDITION, "the container has no snapshot");
  end(NULL, k);

  CHECK(ctrd_image_delete(client, name, 0) == CTRD_OK);
  CHECK(ctrd_image_delete(client, name2, 0) == CTRD_OK);
  ctrd_client_free(client);
  printf("ok\n");
  return 0;
}
