/* For tests/unit/test_analyze.py: a syscall made directly (personality, 135), one through
 * syscall(2) with a constant number (getppid, 110), one whose number no static reading can know,
 * and a libc call on a path the program never takes at run time (sync). */
#include <sys/syscall.h>
#include <unistd.h>

__attribute__((noinline)) long direct_personality(void)
{
    long ret;
    __asm__ volatile("mov $135, %%eax\n\tsyscall" : "=a"(ret) : "D"(0xffffffffL)
                     : "rcx", "r11", "memory");
    return ret;
}

__attribute__((noinline)) long via_wrapper(void)
{
    return syscall(SYS_getppid);
}

__attribute__((noinline)) long unknown_number(long nr)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr) : "rcx", "r11", "memory");
    return ret;
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc > 5) {
        sync();
        direct_personality();
    }
    via_wrapper();
    return unknown_number(argc + 38) > 0 ? 0 : 1;
}
