/* Preloaded into hiss-server by server_stop.sh: starts a thread before main, as tools such as
 * compute-sanitizer do. That thread does not block the stop signals, so a SIGTERM sent to the
 * process may land on it; the server must still stop cleanly. */
#include <pthread.h>
#include <unistd.h>

static void *idle(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return NULL;
}

__attribute__((constructor)) static void start_before_main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, idle, NULL) == 0)
        pthread_detach(t);
}
