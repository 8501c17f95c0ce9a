/* Starts 4 threads; each calls getpid, writes to /dev/null and sleeps 1 ms a few times. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int devnull = -1;

static void *work(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 1000000};
    for (int i = 0; i < 3; i++) {
        (void)getpid();
        if (write(devnull, "x", 1) != 1)
            return (void *)1;
        nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(void)
{
    pthread_t t[4];
    devnull = open("/dev/null", O_WRONLY);
    if (devnull < 0)
        return 2;
    for (int i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, work, NULL) != 0)
            return 2;
    int bad = 0;
    for (int i = 0; i < 4; i++) {
        void *ret;
        pthread_join(t[i], &ret);
        bad |= ret != NULL;
    }
    return bad;
}
