/* Starts a long-running container, then runs a second command inside it
 * with `ctrd_task_exec` and prints that command's output and exit code —
 * `ctr tasks exec` in C.
 *
 *   exec [IMAGE]   (default: docker.io/library/ctrd-test:latest)
 *
 * Uses $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE. */
#include <stdio.h>
#include <unistd.h>

#include "containerd_c.h"

static int fail(const char *what, ctrd_status s) {
  fprintf(stderr, "exec: %s: %s: %s\n", what, ctrd_status_name(s), ctrd_last_error());
  return 1;
}

int main(int argc, char **argv) {
  const char *image = argc > 1 ? argv[1] : "docker.io/library/ctrd-test:latest";
  char id[64];
  snprintf(id, sizeof id, "exec-example-%ld", (long)getpid());
  ctrd_status s;
  int rc = 1;
  ctrd_client *client = NULL;
  ctrd_container *container = NULL;
  ctrd_task *task = NULL;
  ctrd_fifo_set *fifos = NULL;
  ctrd_io_session *session = NULL;
  ctrd_process *process = NULL;
  char *spec = NULL;

  if ((s = ctrd_client_connect(NULL, NULL, &client)) != CTRD_OK) return fail("connect", s);
  const char *sleeper[] = {"sleep", "1000", NULL};
  if ((s = ctrd_spec_generate(client, id, image, sleeper, &spec)) != CTRD_OK) {
    rc = fail("spec", s);
    goto out;
  }
  if ((s = ctrd_snapshot_prepare_from_image(client, image, NULL, id)) != CTRD_OK) {
    rc = fail("rootfs", s);
    goto out;
  }
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .image = image, .snapshot_key = id};
  if ((s = ctrd_container_create(client, &opts, &container)) != CTRD_OK) {
    ctrd_snapshot_remove(client, NULL, id);
    rc = fail("create", s);
    goto out;
  }
  /* The task itself has no stdio. */
  if ((s = ctrd_container_new_task(container, NULL, &task)) != CTRD_OK ||
      (s = ctrd_task_start(task)) != CTRD_OK) {
    rc = fail("task", s);
    goto out;
  }

  /* The exec'd process: an OCI "process" object, and FIFOs of its own. */
  const char *process_json =
      "{\"args\":[\"sh\",\"-c\",\"echo hello from exec in $(hostname); exit 3\"],"
      "\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0},\"env\":[\"PATH=/bin\"]}";
  if ((s = ctrd_fifo_set_create(NULL, "exec1", false, false, &fifos)) != CTRD_OK) {
    rc = fail("fifos", s);
    goto out;
  }
  ctrd_io io;
  ctrd_fifo_set_io(fifos, &io);
  if ((s = ctrd_io_attach(&io, -1, 1, 2, &session)) != CTRD_OK) {
    rc = fail("attach", s);
    goto out;
  }
  if ((s = ctrd_task_exec(task, "exec1", process_json, &io, &process)) != CTRD_OK ||
      (s = ctrd_process_start(process)) != CTRD_OK) {
    rc = fail("exec", s);
    goto out;
  }
  uint32_t code = 0;
  if ((s = ctrd_process_wait(process, 30000, &code)) != CTRD_OK) {
    rc = fail("wait", s);
    goto out;
  }
  ctrd_io_session_wait(session, 10000);
  printf("exec exited with %u\n", code);
  rc = code == 3 ? 0 : 1;

out:
  if (process) {
    ctrd_process_delete(process, NULL);
    ctrd_process_free(process);
  }
  ctrd_io_session_free(session);
  ctrd_fifo_set_free(fifos);
  if (task) {
    ctrd_task_delete(task, CTRD_TASK_DELETE_FORCE, NULL);
    ctrd_task_free(task);
  }
  if (container) {
    ctrd_container_delete(container, 0);
    ctrd_container_free(container);
  }
  ctrd_string_free(spec);
  ctrd_client_free(client);
  return rc;
}
