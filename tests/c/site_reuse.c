/* For the compiled loops' caller samples: getppid(2) through libc's wrapper, then getpid(2) and
 * getppid(2) through libc's syscall(), one call site for both. The last call is the first of
 * (getppid, that site) though its syscall and its site are both known by then: a compiled loop
 * must still hand it to Python, which samples its stack for the caller, main. */
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    getppid();
    syscall(SYS_getpid);
    syscall(SYS_getppid);
    return 0;
}
