/* A 32-bit static test program for seccomp-gen's sample traces.
 *
 * Built with: gcc -m32 -static -O1 -o /tmp/hello32 sample_traces/src/hello32.c
 * It prints a line with write(2), calls getpid(2), then opens and reads /etc/hostname, so its
 * trace shows i386 (arch "x86") syscall names: write, getpid, openat/open, read, close, exit_group.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    static const char hello[] = "hello from a 32-bit static program\n";
    if (write(STDOUT_FILENO, hello, sizeof hello - 1) < 0)
        return 1;

    char line[128];
    int len = snprintf(line, sizeof line, "pid %ld\n", (long)getpid());
    if (len > 0 && write(STDOUT_FILENO, line, (size_t)len) < 0)
        return 1;

    int fd = open("/etc/hostname", O_RDONLY);
    if (fd < 0)
        return 2;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n < 0)
        return 3;
    static const char prefix[] = "hostname: ";
    if (write(STDOUT_FILENO, prefix, sizeof prefix - 1) < 0
        || write(STDOUT_FILENO, buf, (size_t)n) < 0)
        return 1;
    return 0;
}
