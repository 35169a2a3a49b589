/* Talks to a program inside a container through its stdin and stdout: starts
 * `cat` in a container, writes lines into its stdin through a pipe, reads
 * each one back from its stdout, then closes stdin and collects the exit
 * code.
 *
 *   interactive [IMAGE]   (default: docker.io/library/ctrd-test:latest)
 *
 * Uses $CONTAINERD_ADDRESS and $CONTAINERD_NAMESPACE. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "containerd_c.h"

static int fail(const char *what, ctrd_status s) {
  fprintf(stderr, "interactive: %s: %s: %s\n", what, ctrd_status_name(s), ctrd_last_error());
  return 1;
}

/* Reads one line (up to '\n') from fd into buf. */
static int read_line(int fd, char *buf, size_t size) {
  size_t n = 0;
  while (n + 1 < size) {
    ssize_t r = read(fd, buf + n, 1);
    if (r <= 0) return -1;
    if (buf[n++] == '\n') break;
  }
  buf[n] = 0;
  return 0;
}

int main(int argc, char **argv) {
  const char *image = argc > 1 ? argv[1] : "docker.io/library/ctrd-test:latest";
  char id[64];
  snprintf(id, sizeof id, "interactive-%ld", (long)getpid());
  int rc = 1;
  ctrd_status s;
  ctrd_client *client = NULL;
  ctrd_container *container = NULL;
  ctrd_task *task = NULL;
  ctrd_fifo_set *fifos = NULL;
  ctrd_io_session *session = NULL;
  char *spec = NULL;
  int to_cat[2] = {-1, -1}, from_cat[2] = {-1, -1};

  if ((s = ctrd_client_connect(NULL, NULL, &client)) != CTRD_OK) return fail("connect", s);
  const char *cat[] = {"cat", NULL};
  if ((s = ctrd_spec_generate(client, id, image, cat, &spec)) != CTRD_OK ||
      (s = ctrd_snapshot_prepare_from_image(client, image, NULL, id)) != CTRD_OK) {
    rc = fail("prepare", s);
    goto out;
  }
  ctrd_container_opts opts = {.struct_size = sizeof(ctrd_container_opts), .id = id, .spec_json = spec, .image = image, .snapshot_key = id};
  if ((s = ctrd_container_create(client, &opts, &container)) != CTRD_OK) {
    ctrd_snapshot_remove(client, NULL, id);
    rc = fail("create", s);
    goto out;
  }

  /* Our ends: we write into to_cat[1] and read from from_cat[0]. */
  if (pipe(to_cat) != 0 || pipe(from_cat) != 0) {
    perror("pipe");
    goto out;
  }
  if ((s = ctrd_fifo_set_create(NULL, id, true, false, &fifos)) != CTRD_OK) {
    rc = fail("fifos", s);
    goto out;
  }
  ctrd_io io;
  ctrd_fifo_set_io(fifos, &io);
  /* The session keeps its own duplicates of the fds it is given. */
  s = ctrd_io_attach(&io, to_cat[0], from_cat[1], -1, &session);
  close(to_cat[0]);
  close(from_cat[1]);
  if (s != CTRD_OK) {
    rc = fail("attach", s);
    goto out;
  }
  if ((s = ctrd_container_new_task(container, &io, &task)) != CTRD_OK ||
      (s = ctrd_task_start(task)) != CTRD_OK ||
      (s = ctrd_task_close_stdin_on_eof(task, session)) != CTRD_OK) {
    rc = fail("task", s);
    goto out;
  }

  const char *lines[] = {"hello\n", "from containerd-c\n", "bye\n"};
  for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
    char back[128];
    if (write(to_cat[1], lines[i], strlen(lines[i])) < 0 ||
        read_line(from_cat[0], back, sizeof back) != 0 || strcmp(back, lines[i]) != 0) {
      fprintf(stderr, "interactive: line %zu did not come back\n", i);
      goto out;
    }
    printf("sent and got back: %s", back);
  }
  /* End of our input: the session closes cat's stdin, and cat exits. */
  close(to_cat[1]);
  to_cat[1] = -1;
  uint32_t code = 1;
  if ((s = ctrd_task_wait(task, 30000, &code)) != CTRD_OK) {
    rc = fail("wait", s);
    goto out;
  }
  printf("cat exited with %u\n", code);
  rc = code == 0 ? 0 : 1;

out:
  if (task) {
    ctrd_task_delete(task, CTRD_TASK_DELETE_FORCE, NULL);
    ctrd_task_free(task);
  }
  ctrd_io_session_free(session);
  ctrd_fifo_set_free(fifos);
  if (to_cat[1] >= 0) close(to_cat[1]);
  if (from_cat[0] >= 0) close(from_cat[0]);
  if (container) {
    ctrd_container_delete(container, 0);
    ctrd_container_free(container);
  }
  ctrd_string_free(spec);
  ctrd_client_free(client);
  return rc;
}
