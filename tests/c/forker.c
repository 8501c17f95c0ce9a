/* Forks three children (one of them execs /bin/true), waits for each, then vforks one more
 * child that _exits at once. Exits 0 only if every child exited 0. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static int wait_ok(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
    int ok = 1;
    for (int i = 0; i < 3; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            if (i == 1) {
                execl("/bin/true", "true", (char *)NULL);
                _exit(3);
            }
            (void)getpid();
            _exit(0);
        }
        ok &= wait_ok(pid);
    }
    pid_t v = vfork();
    if (v < 0) {
        perror("vfork");
        return 2;
    }
    if (v == 0)
        _exit(0);
    ok &= wait_ok(v);
    return ok ? 0 : 1;
}
