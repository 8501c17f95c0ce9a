/* Built with -m32 -static: every syscall it makes uses the i386 ABI. */
#include <string.h>
#include <unistd.h>

int main(void)
{
    static const char msg[] = "hello from i386\n";
    if (write(1, msg, strlen(msg)) != (ssize_t)strlen(msg))
        return 1;
    return getpid() > 0 ? 0 : 1;
}
