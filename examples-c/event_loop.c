/* containerd from an event loop: one thread, one epoll, COUNT containers
 * run at once through a completion queue, each printing its exit code.
 *
 *   event_loop [-n COUNT] [IMAGE]
 *
 * Container i runs `sh -c 'exit i%7'` from IMAGE (default
 * docker.io/library/ctrd-test:latest, which must be unpacked), through its
 * whole life: snapshot, container, task, start, wait, task delete,
 * container delete. Every step is a *_submit call; the loop sleeps in
 * epoll_wait on the queue's descriptor and never in the library. Exits 0
 * when every container exited with the code it was given. Uses
 * $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE (defaults: the system
 * daemon, "default"). Everything it made is removed before it exits. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "containerd_c.h"

/* A tag is the container's number times STEPS plus the step. */
enum step { PREPARE, CREATE, NEW_TASK, START, WAIT, DELETE_TASK, DELETE, STEPS };
static const char *const step_names[STEPS] = {
    "snapshot prepare", "create", "new task", "start", "wait", "delete task", "delete"};
#define VERSION_TAG UINT64_MAX

typedef struct {
  char id[64];
  char *spec;
  ctrd_container *container;
  ctrd_task *task;
  int want;           /* the exit code it is given */
  int exit_status;    /* -1 until it exited */
  int running;        /* operations of it in flight */
  int started;        /* its start came back */
  int failed;
  int finished;
} box;

static ctrd_client *client;
static ctrd_queue *queue;
static const char *image = "docker.io/library/ctrd-test:latest";
static int failures;

static void failed(box *b, const char *what, ctrd_status s, const char *message) {
  fprintf(stderr, "event_loop: %s: %s: %s: %s\n", b->id, what, ctrd_status_name(s),
          message ? message : ctrd_last_error());
  b->failed = 1;
  failures++;
}

/* Submits step `st` of container `n`. */
static void submit(box *boxes, size_t n, enum step st) {
  box *b = &boxes[n];
  uint64_t tag = (uint64_t)n * STEPS + st;
  ctrd_status s = CTRD_OK;
  switch (st) {
    case PREPARE:
      s = ctrd_snapshot_prepare_from_image_submit(client, image, NULL, b->id, queue, tag);
      break;
    case CREATE: {
      ctrd_container_opts o = ctrd_container_opts_default();
      o.id = b->id;
      o.spec_json = b->spec;
      o.image = image;
      o.snapshot_key = b->id;
      s = ctrd_container_create_submit(client, &o, queue, tag);
      break;
    }
    case NEW_TASK: s = ctrd_container_new_task_submit(b->container, NULL, queue, tag); break;
    case START: s = ctrd_task_start_submit(b->task, queue, tag); break;
    case WAIT: s = ctrd_task_wait_submit(b->task, queue, tag); break;
    case DELETE_TASK:
      /* After a failure the task may still run: then by force. */
      s = ctrd_task_delete_submit(b->task, b->failed ? CTRD_TASK_DELETE_FORCE : 0, queue, tag);
      break;
    case DELETE: s = ctrd_container_delete_submit(b->container, 0, queue, tag); break;
    case STEPS: break;
  }
  if (s != CTRD_OK) {
    failed(b, step_names[st], s, NULL);
    return;
  }
  b->running++;
}

/* What comes after step `st` of container `n` ended with `c`. */
static void advance(box *boxes, size_t n, enum step st, ctrd_completion *c) {
  box *b = &boxes[n];
  b->running--;
  if (c->status != CTRD_OK) {
    failed(b, step_names[st], c->status, c->error);
    ctrd_string_free(c->error);
  }
  int ok = c->status == CTRD_OK && !b->failed;
  switch (st) {
    case PREPARE:
      if (ok) submit(boxes, n, CREATE);
      break;
    case CREATE:
      b->container = c->container;
      if (ok) {
        submit(boxes, n, NEW_TASK);
      } else if (b->container == NULL) {
        /* The snapshot no container took (a blocking call, on this rare
         * path only). */
        ctrd_snapshot_remove(client, NULL, b->id);
      }
      break;
    case NEW_TASK:
      b->task = c->task;
      if (ok) {
        /* The wait first: it sees the exit however soon it comes. */
        submit(boxes, n, WAIT);
        submit(boxes, n, START);
      }
      break;
    case START:
      b->started = 1;
      /* Not started: its wait would never end. */
      if (!ok) ctrd_queue_cancel(queue, (uint64_t)n * STEPS + WAIT);
      /* Exited before the start's answer came: the task goes now. */
      else if (b->exit_status >= 0 && b->task != NULL) submit(boxes, n, DELETE_TASK);
      break;
    case WAIT:
      if (c->status == CTRD_OK) {
        b->exit_status = (int)c->exit_status;
        printf("%s exited with %d\n", b->id, b->exit_status);
        if (b->exit_status != b->want) {
          fprintf(stderr, "event_loop: %s: exit %d, want %d\n", b->id, b->exit_status, b->want);
          failures++;
        }
      }
      /* The exit can come before the start's answer (the daemon's start
       * reads the task's state after starting it): the task goes once
       * both came. */
      if (b->task != NULL && b->started) submit(boxes, n, DELETE_TASK);
      break;
    case DELETE_TASK:
      ctrd_task_free(b->task);
      b->task = NULL;
      submit(boxes, n, DELETE);
      break;
    case DELETE:
      ctrd_container_free(b->container);
      b->container = NULL;
      break;
    case STEPS: break;
  }
  /* A container that failed half-way: what it made goes, once nothing of
   * it runs any more. */
  if (b->failed && b->running == 0 && !b->finished) {
    if (b->task != NULL) {
      submit(boxes, n, DELETE_TASK);
      return;
    }
    if (b->container != NULL) {
      submit(boxes, n, DELETE);
      return;
    }
  }
  if (b->running == 0 && b->task == NULL && b->container == NULL) b->finished = 1;
}

int main(int argc, char **argv) {
  size_t count = 50;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
      count = (size_t)strtoul(argv[++i], NULL, 10);
    } else if (argv[i][0] != '-') {
      image = argv[i];
    } else {
      fprintf(stderr, "usage: event_loop [-n COUNT] [IMAGE]\n");
      return 2;
    }
  }
  ctrd_status s = ctrd_client_connect(NULL, NULL, &client);
  if (s != CTRD_OK || (s = ctrd_queue_new(&queue)) != CTRD_OK) {
    fprintf(stderr, "event_loop: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
    return 1;
  }
  int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event ev = {.events = EPOLLIN};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, ctrd_queue_fd(queue), &ev) != 0) {
    perror("event_loop: epoll");
    return 1;
  }
  box *boxes = calloc(count, sizeof *boxes);
  if (boxes == NULL) return 1;

  /* The daemon's version first: after it, a spec without an image is made
   * without a call (ctrd_spec_generate does not block). */
  s = ctrd_client_server_version_submit(client, queue, VERSION_TAG);
  if (s != CTRD_OK) {
    fprintf(stderr, "event_loop: version: %s: %s\n", ctrd_status_name(s), ctrd_last_error());
    return 1;
  }
  size_t done = 0;
  int started = 0;
  while (!started || done < count) {
    struct epoll_event got;
    int n = epoll_wait(ep, &got, 1, -1);
    if (n < 0) {
      perror("event_loop: epoll_wait");
      return 1;
    }
    ctrd_completion c;
    /* Level-triggered: take what waits, then sleep again. */
    while (ctrd_queue_next(queue, 0, &c) == CTRD_OK) {
      if (c.tag == VERSION_TAG) {
        if (c.status != CTRD_OK) {
          fprintf(stderr, "event_loop: version: %s\n", c.error);
          return 1;
        }
        printf("containerd %s: running %zu containers\n", c.names[0], count);
        ctrd_string_array_free(c.names, c.names_len);
        const char *args[] = {"sh", "-c", NULL, NULL};
        char script[32];
        args[2] = script;
        for (size_t i = 0; i < count; i++) {
          box *b = &boxes[i];
          snprintf(b->id, sizeof b->id, "evloop-%ld-%zu", (long)getpid(), i);
          b->want = (int)(i % 7);
          b->exit_status = -1;
          snprintf(script, sizeof script, "exit %d", b->want);
          s = ctrd_spec_generate(client, b->id, NULL, args, &b->spec);
          if (s != CTRD_OK) {
            failed(b, "spec", s, NULL);
            b->finished = 1;
            continue;
          }
          submit(boxes, i, PREPARE);
          if (b->failed) b->finished = 1;
        }
        started = 1;
      } else {
        size_t i = (size_t)(c.tag / STEPS);
        advance(boxes, i, (enum step)(c.tag % STEPS), &c);
      }
      done = 0;
      for (size_t i = 0; i < count; i++) done += boxes[i].finished;
    }
  }
  for (size_t i = 0; i < count; i++) ctrd_string_free(boxes[i].spec);
  free(boxes);
  close(ep);
  ctrd_queue_free(queue);
  ctrd_client_free(client);
  if (failures) {
    fprintf(stderr, "event_loop: %d failures\n", failures);
    return 1;
  }
  printf("all %zu containers ran\n", count);
  return 0;
}
