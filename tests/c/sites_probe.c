/* For the call-site tests: write(2) through libc's wrapper, and getppid(2) made by the program's
 * own function probe_raw_getppid with an inline syscall instruction (no libc in between). */
#include <unistd.h>

__attribute__((noinline)) long probe_raw_getppid(void)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(110L) : "rcx", "r11", "memory");
    return ret;
}

int main(void)
{
    for (int i = 0; i < 3; i++)
        probe_raw_getppid();
    return write(1, "sites\n", 6) == 6 ? 0 : 1;
}
