/* A container's workload, built with musl (static): the container's own libc, not the host's.
 *   probe work   reads /srv/greeting, lists /srv, prints both;
 *   probe escape tries what a container profile must deny: setuid(0) and a netlink socket,
 *                and prints the errno each got (0: it succeeded). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#define NETLINK_ROUTE 0  /* linux/netlink.h: musl ships no kernel headers */

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "escape") == 0) {
        int rc = setuid(0);
        printf("setuid: %d\n", rc == 0 ? 0 : errno);
        int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
        printf("netlink: %d\n", fd >= 0 ? 0 : errno);
        return 0;
    }
    char buf[256];
    FILE *f = fopen("/srv/greeting", "r");
    if (!f) { perror("fopen"); return 2; }
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    fputs(buf, stdout);
    DIR *d = opendir("/srv");
    if (!d) { perror("opendir"); return 3; }
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') printf("entry %s\n", e->d_name);
    closedir(d);
    return 0;
}
