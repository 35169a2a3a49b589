/* From C: a task's exit seen by ctrd_task_wait_async (callback on a library
 * thread) and by an event subscription (/tasks/exit with its exit status). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  int exited;           /* wait_async fired (count) */
  uint32_t exit_status; /* from wait_async */
  pthread_t thread;     /* where it fired */
  int events;           /* /tasks/exit events for our container */
  char event_json[512];
  const char *id;
} state;

static void on_exit(void *user_data, ctrd_status status, uint32_t exit_status) {
  state *st = user_data;
  pthread_mutex_lock(&st->lock);
  st->exited += status == CTRD_OK ? 1 : 100;
  st->exit_status = exit_status;
  st->thread = pthread_self();
  pthread_cond_broadcast(&st->cond);
  pthread_mutex_unlock(&st->lock);
}

static void on_event(void *user_data, const char *topic, const char *ns, const char *json) {
  state *st = user_data;
  (void)ns;
  if (strcmp(topic, "/tasks/exit") != 0 || strstr(json, st->id) == NULL) return;
  pthread_mutex_lock(&st->lock);
  st->events++;
  snprintf(st->event_json, sizeof st->event_json, "%s", json);
  pthread_cond_broadcast(&st->cond);
  pthread_mutex_unlock(&st->lock);
}

int main(void) {
  const char *image = "docker.io/library/ctrd-test:latest";
  char id[64];
  snprintf(id, sizeof id, "async-%ld", (long)getpid());
  state st = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, "", id};

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  const char *filters[] = {"topic==\"/tasks/exit\"", NULL};
  ctrd_subscription *sub = NULL;
  CHECK(ctrd_events_subscribe(client, filters, on_event, &st, &sub) == CTRD_OK);

  const char *argv[] = {"sh", "-c", "sleep 0.2; exit 42", NULL};
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, image, argv, &spec) == CTRD_OK);
  CHECK(ctrd_snapshot_prepare_from_image(client, image, NULL, id) == CTRD_OK);
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .snapshot_key = id};
  ctrd_container *container = NULL;
  CHECK(ctrd_container_create(client, &opts, &container) == CTRD_OK);
  ctrd_task *task = NULL;
  CHECK(ctrd_container_new_task(container, NULL, &task) == CTRD_OK);
  CHECK(ctrd_task_start(task) == CTRD_OK);
  CHECK(ctrd_task_wait_async(task, on_exit, &st, NULL) == CTRD_OK);

  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 20;
  pthread_mutex_lock(&st.lock);
  while ((st.exited == 0 || st.events == 0) &&
         pthread_cond_timedwait(&st.cond, &st.lock, &deadline) == 0) {
  }
  pthread_mutex_unlock(&st.lock);
  CHECK(st.exited == 1);
  CHECK(st.exit_status == 42);
  CHECK(!pthread_equal(st.thread, pthread_self()));
  CHECK(st.events == 1);
  CHECK(strstr(st.event_json, "\"exitStatus\":42") != NULL);

  uint32_t code = 0;
  CHECK(ctrd_task_delete(task, 0, &code) == CTRD_OK && code == 42);
  ctrd_task_free(task);
  ctrd_subscription_free(sub);
  CHECK(ctrd_container_delete(container, 0) == CTRD_OK);
  ctrd_container_free(container);
  ctrd_string_free(spec);
  ctrd_client_free(client);
  puts("task_async: ok");
  return 0;
}
