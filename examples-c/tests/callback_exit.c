/* A callback may end its own thread (pthread_exit; a language runtime that
 * shuts down may do the same to a thread calling back into it): only that
 * thread ends, the process goes on, and freeing the wait or subscription
 * afterwards returns. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static volatile int exit_called;

static void exit_then_end_thread(void *user_data, ctrd_status status, uint32_t exit_status) {
  (void)user_data;
  (void)status;
  (void)exit_status;
  exit_called = 1;
  pthread_exit(NULL);
}

static volatile int event_called;

static void event_then_end_thread(void *user_data, const char *topic, const char *ns,
                                  const char *json) {
  (void)user_data;
  (void)ns;
  (void)json;
  if (strcmp(topic, "/tasks/exit") != 0) return;
  event_called = 1;
  pthread_exit(NULL);
}

static int wait_for(volatile int *flag) {
  struct timespec tick = {0, 10 * 1000 * 1000};
  for (int i = 0; i < 2000 && !*flag; i++) nanosleep(&tick, NULL);
  return *flag;
}

int main(void) {
  const char *image = "docker.io/library/ctrd-test:latest";
  char id[64];
  snprintf(id, sizeof id, "cbexit-%ld", (long)getpid());

  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  const char *filters[] = {"topic==\"/tasks/exit\"", NULL};
  ctrd_subscription *sub = NULL;
  CHECK(ctrd_events_subscribe(client, filters, event_then_end_thread, NULL, &sub) == CTRD_OK);
  const char *argv[] = {"sh", "-c", "exit 3", NULL};
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, image, argv, &spec) == CTRD_OK);
  CHECK(ctrd_snapshot_prepare_from_image(client, image, NULL, id) == CTRD_OK);
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .snapshot_key = id};
  ctrd_container *container = NULL;
  CHECK(ctrd_container_create(client, &opts, &container) == CTRD_OK);
  ctrd_task *task = NULL;
  CHECK(ctrd_container_new_task(container, NULL, &task) == CTRD_OK);
  CHECK(ctrd_task_start(task) == CTRD_OK);

  ctrd_wait *w = NULL;
  CHECK(ctrd_task_wait_async(task, exit_then_end_thread, NULL, &w) == CTRD_OK);
  CHECK(wait_for(&exit_called));
  ctrd_wait_free(w); /* joins a thread that ended inside its callback */
  CHECK(wait_for(&event_called));
  ctrd_subscription_free(sub); /* the same for a subscription */

  /* The library goes on working. */
  uint32_t code = 0;
  CHECK(ctrd_task_wait(task, 10000, &code) == CTRD_OK && code == 3);
  CHECK(ctrd_task_delete(task, 0, &code) == CTRD_OK && code == 3);
  ctrd_task_free(task);
  CHECK(ctrd_container_delete(container, 0) == CTRD_OK);
  ctrd_container_free(container);
  ctrd_string_free(spec);
  ctrd_client_free(client);
  puts("callback_exit: ok");
  return 0;
}
