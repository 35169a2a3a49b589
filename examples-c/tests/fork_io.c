/* A stdio session attached before fork() and freed in the child: the copy
 * threads exist only in the parent, so the child's free must forget them
 * (not join them, which would fail), while the parent's session goes on
 * copying. The child frees the parent's FIFO set too: its FIFOs stay (they
 * are the parent's). Needs no daemon. */
#define _GNU_SOURCE
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(void) {
  char dir[] = "/tmp/ctrd-fork-io-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  ctrd_fifo_set *set = NULL;
  CHECK(ctrd_fifo_set_create(dir, "forkio", false, false, &set) == CTRD_OK);
  ctrd_io io;
  CHECK(ctrd_fifo_set_io(set, &io) == CTRD_OK);
  int out[2];
  CHECK(pipe(out) == 0);
  ctrd_io_session *s = NULL;
  CHECK(ctrd_io_attach(&io, -1, out[1], -1, &s) == CTRD_OK);

  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    alarm(10); /* a hang would be a bug too */
    ctrd_io child_io;
    /* A successful call clears the last error... */
    if (ctrd_fifo_set_io(set, &child_io) != CTRD_OK) _exit(2);
    /* ...so any message after the free comes from the free. */
    ctrd_io_session_free(s);
    if (ctrd_last_error()[0] != '\0') {
      fprintf(stderr, "child: ctrd_io_session_free failed: %s\n", ctrd_last_error());
      _exit(1);
    }
    ctrd_fifo_set_free(set);
    _exit(0);
  }
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(access(io.stdout_path, F_OK) == 0); /* the child left the FIFOs */

  /* The parent's session still copies: write into the stdout FIFO. */
  FILE *w = fopen(io.stdout_path, "w");
  CHECK(w != NULL);
  CHECK(fputs("after fork\n", w) >= 0);
  CHECK(fclose(w) == 0);
  CHECK(ctrd_io_session_wait(s, 10000) == CTRD_OK);
  char buf[64] = {0};
  CHECK(read(out[0], buf, sizeof buf - 1) == 11);
  CHECK(strcmp(buf, "after fork\n") == 0);

  ctrd_io_session_free(s);
  ctrd_fifo_set_free(set);
  close(out[0]);
  close(out[1]);
  CHECK(rmdir(dir) == 0);
  puts("fork_io: ok");
  return 0;
}
