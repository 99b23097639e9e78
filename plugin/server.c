/* Whether an effect plugin's models run on a hiss-server (docs/server.md): HISS_SERVER names its
 * socket, or "off"; unset, the server's default socket is used when one is there. Read once, at
 * instantiate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "server.h"

int hp_server_find(char *path, size_t n, int *asked)
{
    const char *env = getenv("HISS_SERVER");
    *asked = env && *env && strcmp(env, "off") != 0;
    if (env && strcmp(env, "off") == 0) {
        path[0] = '\0';
        return 0;
    }
    if (*asked)
        snprintf(path, n, "%s", env);
    else
        hiss_server_default_path(path, n);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        return 1;
    return 0;
}
