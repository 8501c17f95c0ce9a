/* Fills ioctl's argument set past ARG_VALUE_CAP (256) so that which values are kept depends on
 * the order they reached the recorder: 300 distinct requests counted by a compiled loop (their
 * rows queued), then a raw clone whose first call, an ioctl, comes to Python (an unknown thread)
 * while those rows are still queued. The Python loop keeps the first 256 distinct values in call
 * order, so none of the child's. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

static void ioctls(long base, long n)
{
    for (long i = 0; i < n; i++)
        syscall(SYS_ioctl, -1, base + i); /* EBADF, but the supervisor saw the request */
}

/* A child whose only calls are raw: its first one is an ioctl. */
static void child(long base, long n)
{
    long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        ioctls(base, n);
        syscall(SYS_exit_group, 0);
    }
    syscall(SYS_wait4, pid, 0, 0, 0);
}

int main(void)
{
    child(0x1000, 1);    /* every syscall below is seen once: C answers them from now on */
    ioctls(0x2000, 300);
    child(0x3000, 10);
    return 0;
}
