/* Built with -m32 -static: an i386 program that lives long enough (200 ms) for the ebpf
 * backend's maps poller to read its maps and its vDSO before it writes and exits. */
#include <time.h>
#include <unistd.h>

int main(void)
{
    struct timespec t = {0, 200000000};
    nanosleep(&t, 0);
    if (write(1, "slept\n", 6) != 6)
        return 1;
    return getpid() > 0 ? 0 : 1;
}
