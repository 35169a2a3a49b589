/* The completion queue from C: a task's life through poll(2) on the queue's
 * descriptor, bad input refused with clear statuses (and no completion),
 * a cut wait, a queue unusable in a forked child, and a queue freed with
 * operations running (nothing may leak: this runs under valgrind and ASan
 * too; under valgrind with --no-fork, as a forked child's _exit would be
 * leak-checked with all the parent's memory). */
#define _POSIX_C_SOURCE 200809L
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char *image = "docker.io/library/ctrd-test:latest";

static int readable(ctrd_queue *q, int ms) {
  struct pollfd p = {.fd = ctrd_queue_fd(q), .events = POLLIN};
  return poll(&p, 1, ms) == 1;
}

/* Waits on the descriptor, then takes the completion, which must be `tag`'s
 * and a success; the message is freed. */
static ctrd_completion take(ctrd_queue *q, uint64_t tag) {
  CHECK(readable(q, 60000));
  ctrd_completion c;
  memset(&c, 0xAB, sizeof c);
  CHECK(ctrd_queue_next(q, 0, &c) == CTRD_OK);
  if (c.tag != tag || c.status != CTRD_OK) {
    fprintf(stderr, "completion %llu (want %llu): %s: %s\n", (unsigned long long)c.tag,
            (unsigned long long)tag, ctrd_status_name(c.status), c.error ? c.error : "");
    exit(1);
  }
  CHECK(c.error == NULL && c.process == NULL);
  return c;
}

/* Takes the completions of `a` and `b` (successes), in whichever order they
 * come; returns `b`'s. */
static ctrd_completion take2(ctrd_queue *q, uint64_t a, uint64_t b) {
  ctrd_completion first;
  CHECK(ctrd_queue_next(q, -1, &first) == CTRD_OK);
  CHECK(first.tag == a || first.tag == b);
  ctrd_completion second = take(q, first.tag == a ? b : a);
  return first.tag == b ? first : second;
}

int main(int argc, char **argv) {
  int with_fork = !(argc > 1 && strcmp(argv[1], "--no-fork") == 0);
  char id[64];
  snprintf(id, sizeof id, "queue-%ld", (long)getpid());
  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);

  /* Bad input: a status, no completion. */
  ctrd_queue_free(NULL);
  CHECK(ctrd_queue_fd(NULL) == -1);
  CHECK_STATUS(ctrd_queue_new(NULL), CTRD_ERR_INVALID_ARGUMENT, "out is NULL");
  ctrd_queue *q = NULL;
  CHECK(ctrd_queue_new(&q) == CTRD_OK && q != NULL);
  CHECK(ctrd_queue_fd(q) >= 0);
  ctrd_completion c;
  CHECK_STATUS(ctrd_queue_next(NULL, 0, &c), CTRD_ERR_INVALID_ARGUMENT, "queue is NULL");
  CHECK_STATUS(ctrd_queue_next(q, 0, NULL), CTRD_ERR_INVALID_ARGUMENT, "out is NULL");
  CHECK_STATUS(ctrd_queue_next(q, 0, &c), CTRD_ERR_DEADLINE_EXCEEDED, "no completion");
  CHECK_STATUS(ctrd_queue_next(q, 50, &c), CTRD_ERR_DEADLINE_EXCEEDED, "50 ms");
  CHECK_STATUS(ctrd_queue_cancel(NULL, 1), CTRD_ERR_INVALID_ARGUMENT, "queue is NULL");
  CHECK_STATUS(ctrd_queue_cancel(q, 1), CTRD_ERR_NOT_FOUND, "tag 1");
  CHECK_STATUS(ctrd_task_start_submit(NULL, q, 1), CTRD_ERR_INVALID_ARGUMENT, "task is NULL");
  CHECK_STATUS(ctrd_container_load_submit(client, id, NULL, 1), CTRD_ERR_INVALID_ARGUMENT,
               "queue is NULL");
  CHECK_STATUS(ctrd_container_load_submit(NULL, id, q, 1), CTRD_ERR_INVALID_ARGUMENT,
               "client is NULL");
  CHECK_STATUS(ctrd_image_import_submit(client, "relative.tar", NULL, q, 1),
               CTRD_ERR_INVALID_ARGUMENT, "absolute");
  CHECK(!readable(q, 0));

  /* A task's life, every step through the queue. */
  const char *args[] = {"sh", "-c", "sleep 0.2; exit 42", NULL};
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, image, args, &spec) == CTRD_OK);
  CHECK(ctrd_snapshot_prepare_from_image_submit(client, image, NULL, id, q, 1) == CTRD_OK);
  /* Its tag is in use until the completion is taken. */
  CHECK_STATUS(ctrd_snapshot_prepare_from_image_submit(client, image, NULL, id, q, 1),
               CTRD_ERR_ALREADY_EXISTS, "tag 1");
  take(q, 1);
  ctrd_container_opts opts = ctrd_container_opts_default();
  opts.id = id;
  opts.spec_json = spec;
  opts.snapshot_key = id;
  CHECK(ctrd_container_create_submit(client, &opts, q, 2) == CTRD_OK);
  ctrd_container *k = take(q, 2).container;
  CHECK(k != NULL && strcmp(ctrd_container_id(k), id) == 0);
  CHECK(ctrd_container_new_task_submit(k, NULL, q, 3) == CTRD_OK);
  ctrd_task *t = take(q, 3).task;
  CHECK(t != NULL);
  CHECK(ctrd_task_wait_submit(t, q, 4) == CTRD_OK);
  CHECK(ctrd_task_start_submit(t, q, 5) == CTRD_OK);
  CHECK(take2(q, 5, 4).exit_status == 42);
  CHECK(ctrd_task_delete_submit(t, 0, q, 6) == CTRD_OK);
  CHECK(take(q, 6).exit_status == 42);

  /* A wait on a task (created, not started: it does not exit), cut. */
  CHECK(ctrd_container_new_task_submit(k, NULL, q, 7) == CTRD_OK);
  ctrd_task *t2 = take(q, 7).task;
  CHECK(ctrd_task_wait_submit(t2, q, 8) == CTRD_OK);
  CHECK(ctrd_queue_cancel(q, 8) == CTRD_OK);
  CHECK(ctrd_queue_next(q, -1, &c) == CTRD_OK);
  CHECK(c.tag == 8 && c.status == CTRD_ERR_CANCELLED);
  CHECK(strstr(c.error, "ctrd_task_wait_submit: cancelled") != NULL);
  ctrd_string_free(c.error);

  /* In a forked child the queue is unusable; the parent's goes on. */
  CHECK(ctrd_task_wait_submit(t2, q, 9) == CTRD_OK);
  pid_t pid = with_fork ? fork() : -1;
  CHECK(pid >= 0 || !with_fork);
  if (pid == 0) {
    alarm(10); /* a hang would be the bug under test */
    int bad = 0;
    bad |= ctrd_queue_next(q, 0, &c) != CTRD_ERR_FORKED;
    bad |= strstr(ctrd_last_error(), "fork") == NULL;
    bad |= (ctrd_queue_next(q, -1, &c) != CTRD_ERR_FORKED) << 1;
    bad |= (ctrd_queue_cancel(q, 9) != CTRD_ERR_FORKED) << 2;
    bad |= (ctrd_task_kill_submit(t2, 9, 0, q, 10) != CTRD_ERR_FORKED) << 3;
    bad |= (ctrd_queue_fd(q) != -1) << 4;
    ctrd_queue *other = NULL;
    bad |= (ctrd_queue_new(&other) != CTRD_ERR_FORKED) << 5;
    ctrd_queue_free(q); /* only forgets it */
    _exit(bad);
  }
  int status = 0;
  CHECK(pid < 0 || waitpid(pid, &status, 0) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "child: status %d\n", status);
    return 1;
  }
  CHECK(ctrd_task_kill_submit(t2, 9, 0, q, 10) == CTRD_OK);
  CHECK(take2(q, 10, 9).exit_status == 137);
  CHECK(ctrd_task_delete_submit(t2, 0, q, 11) == CTRD_OK);
  take(q, 11);
  ctrd_task_free(t2);

  /* Freed with operations running and completions not taken: waits on a
   * task that is not started (they never end), loads, server versions. */
  CHECK(ctrd_container_new_task_submit(k, NULL, q, 12) == CTRD_OK);
  ctrd_task *t3 = take(q, 12).task;
  for (uint64_t tag = 100; tag < 120; tag++) {
    CHECK(ctrd_task_wait_submit(t3, q, tag) == CTRD_OK);
    CHECK(ctrd_container_load_submit(client, id, q, tag + 100) == CTRD_OK);
    CHECK(ctrd_client_server_version_submit(client, q, tag + 200) == CTRD_OK);
  }
  CHECK(readable(q, 60000));
  ctrd_queue_free(q);
  ctrd_task_state state = CTRD_TASK_UNKNOWN;
  CHECK(ctrd_task_status(t3, &state, NULL) == CTRD_OK && state == CTRD_TASK_CREATED);
  CHECK(ctrd_task_delete(t3, CTRD_TASK_DELETE_FORCE, NULL) == CTRD_OK);
  ctrd_task_free(t3);
  ctrd_task_free(t);
  CHECK(ctrd_container_delete(k, 0) == CTRD_OK);
  ctrd_container_free(k);
  ctrd_string_free(spec);
  ctrd_client_free(client);
  puts("queue: ok");
  return 0;
}
