/* Finding the hiss-server an effect plugin's models run on. */
#ifndef HP_SERVER_H
#define HP_SERVER_H

#include <stddef.h>

#include "hiss.h"

/* 1 with its socket in path when models should run on a server; 0 otherwise (path then holds
 * the socket looked for, "" when HISS_SERVER=off). *asked: HISS_SERVER named a socket. */
int hp_server_find(char *path, size_t n, int *asked);

#endif
