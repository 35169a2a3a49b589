/* The demo: runs a command in a container made from an image and streams its
 * output, then exits with the command's exit code — `ctr run --rm` in C.
 *
 *   run [-t] [--pull [--plain-http] [--user USER:PASSWORD] [--ca-file FILE]]
 *       IMAGE [COMMAND [ARG...]]
 *
 *   -t       give the command a terminal (stdout and stderr arrive merged)
 *   --pull   pull IMAGE from its registry first when containerd lacks it
 *            (the other options say how to reach the registry; see pull.c)
 *
 * stdin is passed to the command when it is not a terminal. Uses
 * $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE (defaults: the system
 * daemon, "default"). Everything it made is removed before it exits. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "containerd_c.h"

static int fail(const char *what, ctrd_status s) {
  fprintf(stderr, "run: %s: %s: %s\n", what, ctrd_status_name(s), ctrd_last_error());
  return 125;
}

/* The image's name in containerd: IMAGE itself when containerd has it, else
 * (with --pull) the name it got when pulled. The caller frees it. */
static char *ensure_image(ctrd_client *client, const char *image, bool pull,
                          const ctrd_pull_opts *opts) {
  ctrd_image *found = NULL;
  ctrd_status s = ctrd_image_get(client, image, &found);
  if (s == CTRD_ERR_NOT_FOUND && pull) {
    fprintf(stderr, "run: pulling %s\n", image);
    /* A pull takes as long as the network does: no per-call timeout. */
    ctrd_client_set_timeout_ms(client, 0);
    s = ctrd_image_pull(client, image, opts, &found);
    ctrd_client_set_timeout_ms(client, 30000);
  }
  if (s != CTRD_OK) {
    fail(pull ? "pull" : "image", s);
    return NULL;
  }
  char *name = strdup(ctrd_image_name(found));
  ctrd_image_free(found);
  return name;
}

int main(int argc, char **argv) {
  int arg = 1;
  bool terminal = false, pull = false;
  ctrd_pull_opts pull_opts = ctrd_pull_opts_default();
  for (; arg < argc && argv[arg][0] == '-'; arg++) {
    if (strcmp(argv[arg], "-t") == 0) {
      terminal = true;
    } else if (strcmp(argv[arg], "--pull") == 0) {
      pull = true;
    } else if (strcmp(argv[arg], "--plain-http") == 0) {
      pull_opts.plain_http = true;
    } else if (strcmp(argv[arg], "--user") == 0 && arg + 1 < argc) {
      char *user = argv[++arg], *colon = strchr(user, ':');
      if (colon != NULL) {
        *colon = '\0';
        pull_opts.secret = colon + 1;
      }
      pull_opts.username = user;
    } else if (strcmp(argv[arg], "--ca-file") == 0 && arg + 1 < argc) {
      pull_opts.ca_file = argv[++arg];
    } else {
      arg = argc; /* unknown option: usage */
    }
  }
  if (arg >= argc) {
    fprintf(stderr,
            "usage: run [-t] [--pull [--plain-http] [--user USER:PASSWORD] [--ca-file FILE]]\n"
            "           IMAGE [COMMAND [ARG...]]\n");
    return 125;
  }
  const char *wanted = argv[arg++];
  char *image = NULL;
  const char *const *command = arg < argc ? (const char *const *)&argv[arg] : NULL;
  /* Pass stdin on when it is a pipe or file (open, not a terminal). */
  bool with_stdin = fcntl(0, F_GETFD) != -1 && !isatty(0);

  char id[64];
  snprintf(id, sizeof id, "run-%ld", (long)getpid());
  int exit_code = 125;
  ctrd_status s;
  ctrd_client *client = NULL;
  char *spec = NULL;
  ctrd_container *container = NULL;
  ctrd_fifo_set *fifos = NULL;
  ctrd_task *task = NULL;
  ctrd_io_session *session = NULL;

  if ((s = ctrd_client_connect(NULL, NULL, &client)) != CTRD_OK) return fail("connect", s);
  if ((image = ensure_image(client, wanted, pull, &pull_opts)) == NULL) goto out;

  /* The container: a default spec from the image, a snapshot for its rootfs. */
  if ((s = ctrd_spec_generate(client, id, image, command, &spec)) != CTRD_OK) {
    exit_code = fail("spec", s);
    goto out;
  }
  if (terminal) {
    /* The spec's process asks for a terminal too. */
    char *with_tty = NULL;
    s = ctrd_spec_patch(spec, "{\"process\":{\"terminal\":true}}", &with_tty);
    ctrd_string_free(spec);
    spec = with_tty;
    if (s != CTRD_OK) {
      exit_code = fail("spec", s);
      goto out;
    }
  }
  if ((s = ctrd_snapshot_prepare_from_image(client, image, NULL, id)) != CTRD_OK) {
    exit_code = fail("rootfs", s);
    goto out;
  }
  ctrd_container_opts opts = ctrd_container_opts_default();
  opts.id = id;
  opts.spec_json = spec;
  opts.image = image;
  opts.snapshot_key = id;
  if ((s = ctrd_container_create(client, &opts, &container)) != CTRD_OK) {
    ctrd_snapshot_remove(client, NULL, id);
    exit_code = fail("create", s);
    goto out;
  }

  /* stdio: a FIFO set, copied to and from our own fds in the background. */
  if ((s = ctrd_fifo_set_create(NULL, id, with_stdin, terminal, &fifos)) != CTRD_OK) {
    exit_code = fail("fifos", s);
    goto out;
  }
  ctrd_io io;
  ctrd_fifo_set_io(fifos, &io);
  if ((s = ctrd_io_attach(&io, with_stdin ? 0 : -1, 1, terminal ? -1 : 2, &session)) != CTRD_OK) {
    exit_code = fail("attach", s);
    goto out;
  }
  if ((s = ctrd_container_new_task(container, &io, &task)) != CTRD_OK) {
    exit_code = fail("task", s);
    goto out;
  }
  if ((s = ctrd_task_start(task)) != CTRD_OK) {
    exit_code = fail("start", s);
    goto out;
  }
  /* When our (piped) stdin ends, the command's stdin ends too. Not with a
   * terminal: closing a terminal's input hangs it up. */
  if (with_stdin && !terminal && (s = ctrd_task_close_stdin_on_eof(task, session)) != CTRD_OK) {
    exit_code = fail("stdin", s);
    goto out;
  }
  uint32_t status = 0;
  if ((s = ctrd_task_wait(task, -1, &status)) != CTRD_OK) {
    exit_code = fail("wait", s);
    goto out;
  }
  /* All output is through once the task's end of the FIFOs closed. */
  if ((s = ctrd_io_session_wait(session, 10000)) != CTRD_OK) fail("output", s);
  exit_code = (int)status;

out:
  if (task) {
    ctrd_task_delete(task, CTRD_TASK_DELETE_FORCE, NULL);
    ctrd_task_free(task);
  }
  ctrd_io_session_free(session); /* after the task: nothing read is dropped */
  ctrd_fifo_set_free(fifos);     /* FIFOs go only once the task is deleted */
  if (container) {
    ctrd_container_delete(container, 0);
    ctrd_container_free(container);
  }
  ctrd_string_free(spec);
  ctrd_client_free(client);
  free(image);
  return exit_code;
}
