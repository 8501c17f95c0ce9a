/* Probes io_uring and falls back to epoll when the kernel (or a filter) answers ENOSYS, as
 * QEMU and liburing users do: under a profile that answers io_uring_setup with ENOSYS it
 * takes a path its recording did not. Prints which one it took. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    char params[120]; /* struct io_uring_params */
    memset(params, 0, sizeof params);
    long fd = syscall(SYS_io_uring_setup, 4, params);
    if (fd >= 0) {
        close((int)fd);
        puts("io_uring");
        return 0;
    }
    if (errno != ENOSYS) {
        printf("io_uring_setup: %s\n", strerror(errno));
        return 1;
    }
    int ep = epoll_create1(0);
    if (ep < 0) {
        perror("epoll_create1");
        return 2;
    }
    close(ep);
    puts("epoll");
    return 0;
}
