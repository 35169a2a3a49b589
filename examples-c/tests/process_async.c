/* From C: an exec process's exit seen by ctrd_process_wait_async, and a
 * second wait cancelled by ctrd_wait_free before the exit (its callback
 * never runs). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int calls;
  ctrd_status status;
  uint32_t exit_status;
} waited;

static void on_exit(void *user_data, ctrd_status status, uint32_t exit_status) {
  waited *w = user_data;
  pthread_mutex_lock(&w->lock);
  w->calls++;
  w->status = status;
  w->exit_status = exit_status;
  pthread_cond_broadcast(&w->cond);
  pthread_mutex_unlock(&w->lock);
}

int main(void) {
  const char *image = "docker.io/library/ctrd-test:latest";
  char id[64];
  snprintf(id, sizeof id, "procasync-%ld", (long)getpid());

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  const char *argv[] = {"sleep", "60", NULL};
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, image, argv, &spec) == CTRD_OK);
  CHECK(ctrd_snapshot_prepare_from_image(client, image, NULL, id) == CTRD_OK);
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .snapshot_key = id};
  ctrd_container *container = NULL;
  CHECK(ctrd_container_create(client, &opts, &container) == CTRD_OK);
  ctrd_task *task = NULL;
  CHECK(ctrd_container_new_task(container, NULL, &task) == CTRD_OK);
  CHECK(ctrd_task_start(task) == CTRD_OK);

  const char *process =
      "{\"args\":[\"sh\",\"-c\",\"sleep 0.3; exit 7\"],\"cwd\":\"/\","
      "\"env\":[\"PATH=/bin:/usr/bin\"],\"user\":{\"uid\":0,\"gid\":0}}";
  ctrd_process *p = NULL;
  CHECK(ctrd_task_exec(task, "e1", process, NULL, &p) == CTRD_OK);
  CHECK(ctrd_process_start(p) == CTRD_OK);

  waited kept = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, CTRD_OK, 0};
  waited cancelled = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, CTRD_OK, 0};
  ctrd_wait *w_kept = NULL, *w_cancelled = NULL;
  CHECK(ctrd_process_wait_async(p, on_exit, &kept, &w_kept) == CTRD_OK);
  CHECK(ctrd_process_wait_async(p, on_exit, &cancelled, &w_cancelled) == CTRD_OK);
  ctrd_wait_free(w_cancelled); /* before the exit: cancelled */
  CHECK_STATUS(ctrd_process_wait_async(p, NULL, &kept, NULL), CTRD_ERR_INVALID_ARGUMENT,
               "cb is NULL");

  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 20;
  pthread_mutex_lock(&kept.lock);
  while (kept.calls == 0 && pthread_cond_timedwait(&kept.cond, &kept.lock, &deadline) == 0) {
  }
  pthread_mutex_unlock(&kept.lock);
  CHECK(kept.calls == 1 && kept.status == CTRD_OK && kept.exit_status == 7);
  ctrd_wait_free(w_kept);
  struct timespec pause = {0, 300 * 1000 * 1000};
  nanosleep(&pause, NULL);
  CHECK(cancelled.calls == 0);

  uint32_t code = 0;
  CHECK(ctrd_process_delete(p, &code) == CTRD_OK && code == 7);
  ctrd_process_free(p);
  CHECK(ctrd_task_delete(task, CTRD_TASK_DELETE_FORCE, NULL) == CTRD_OK);
  ctrd_task_free(task);
  CHECK(ctrd_container_delete(container, 0) == CTRD_OK);
  ctrd_container_free(container);
  ctrd_string_free(spec);
  ctrd_client_free(client);
  puts("process_async: ok");
  return 0;
}
