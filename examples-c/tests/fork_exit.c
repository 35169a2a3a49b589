/* A child that returns through exit() (not _exit), after freeing handles the
 * parent made, must leave the parent working: the child tears down nothing
 * it shares with the parent (a thread's own runtime and connection, in the
 * thread's storage, share their sockets and epoll instance with the
 * parent's). The parent calls on its main thread and on a second thread
 * before the fork and after the child exited, and on a new client; every
 * call succeeds within 2 s. Twice: a child that only frees and exits, and
 * one that makes a call first (CTRD_ERR_FORKED). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The slowest call after a child exited (the two threads take turns,
 * handing over under worker.mu). */
static double slowest;

/* A version call on `c` that succeeds within 2 s (`where` names it). */
static void timed_call(ctrd_client *c, const char *where) {
  double start = now();
  ctrd_status s = ctrd_client_server_version(c, NULL, NULL);
  double took = now() - start;
  if (strstr(where, "after") != NULL && took > slowest) slowest = took;
  if (s != CTRD_OK || took > 2.0) {
    fprintf(stderr, "%s: %s after %.3f s: %s\n", where, ctrd_status_name(s), took,
            ctrd_last_error());
    exit(1);
  }
}

/* The second thread: makes a call each time it is asked to. */
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int asked, done;
  const char *where;
  ctrd_client *client;
} worker = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL, NULL};

static void *worker_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&worker.mu);
  for (;;) {
    while (worker.asked == worker.done) pthread_cond_wait(&worker.cv, &worker.mu);
    if (worker.where == NULL) break;
    const char *where = worker.where;
    pthread_mutex_unlock(&worker.mu);
    for (int i = 0; i < 5; i++) timed_call(worker.client, where);
    pthread_mutex_lock(&worker.mu);
    worker.done++;
    pthread_cond_broadcast(&worker.cv);
  }
  pthread_mutex_unlock(&worker.mu);
  return NULL;
}

/* Has the second thread make calls (`where` NULL: end), and waits. */
static void on_second_thread(const char *where) {
  pthread_mutex_lock(&worker.mu);
  worker.where = where;
  int want = ++worker.asked;
  pthread_cond_broadcast(&worker.cv);
  while (where != NULL && worker.done < want) pthread_cond_wait(&worker.cv, &worker.mu);
  pthread_mutex_unlock(&worker.mu);
}

static void calls_everywhere(ctrd_client *client, const char *when) {
  char where[128];
  snprintf(where, sizeof where, "main thread, %s", when);
  for (int i = 0; i < 5; i++) timed_call(client, where);
  static char second[128];
  snprintf(second, sizeof second, "second thread, %s", when);
  on_second_thread(second);
}

int main(void) {
  alarm(120); /* a hang would be the bug under test */
  ctrd_client *client = NULL;
  CHECK(ctrd_client_connect(NULL, NULL, &client) == CTRD_OK);
  /* The bug showed as calls that waited out the timeout. */
  CHECK(ctrd_client_set_timeout_ms(client, 10000) == CTRD_OK);
  worker.client = client;
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, worker_main, NULL) == 0);
  calls_everywhere(client, "before fork");

  /* A container handle for the child to free (made from a spec without an
   * image: no rootfs needed to create it). */
  char id[64];
  snprintf(id, sizeof id, "fork-exit-%d", (int)getpid());
  const char *argv[] = {"true", NULL};
  char *spec = NULL;
  CHECK(ctrd_spec_generate(client, id, NULL, argv, &spec) == CTRD_OK);
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec};
  ctrd_container *k = NULL;
  CHECK(ctrd_container_create(client, &opts, &k) == CTRD_OK);
  ctrd_string_free(spec);

  for (int call_first = 0; call_first < 2; call_first++) {
    ctrd_client *extra = NULL;
    CHECK(ctrd_client_connect(NULL, NULL, &extra) == CTRD_OK);
    timed_call(extra, "extra client before fork");
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
      alarm(10);
      if (call_first) {
        ctrd_status s = ctrd_client_server_version(client, NULL, NULL);
        if (s != CTRD_ERR_FORKED) {
          fprintf(stderr, "child: got %s: %s\n", ctrd_status_name(s), ctrd_last_error());
          _exit(2);
        }
      }
      ctrd_container_free(k);
      ctrd_client_free(extra);
      exit(0); /* runs exit handlers and this thread's storage destructors */
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    const char *when = call_first ? "after a child that called exited" : "after a child exited";
    calls_everywhere(client, when);
    char where[128];
    snprintf(where, sizeof where, "extra client, %s", when);
    timed_call(extra, where);
    ctrd_client_free(extra);
    ctrd_client *fresh = NULL;
    CHECK(ctrd_client_connect(NULL, NULL, &fresh) == CTRD_OK);
    snprintf(where, sizeof where, "new client, %s", when);
    timed_call(fresh, where);
    ctrd_client_free(fresh);
  }

  on_second_thread(NULL);
  CHECK(pthread_join(thread, NULL) == 0);
  CHECK(ctrd_container_delete(k, 0) == CTRD_OK);
  ctrd_container_free(k);
  ctrd_client_free(client);
  printf("fork_exit: ok (slowest call after a child exited: %.1f ms)\n", slowest * 1e3);
  return 0;
}
