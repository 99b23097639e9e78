/* RtMidi input (midi_in.h). Channel messages only: system messages (sysex, clock, active
 * sensing) are filtered by RtMidi and here. */
#include <rtmidi_c.h>
#include <stdlib.h>
#include <string.h>

#include "midi_in.h"

static void on_message(double stamp, const unsigned char *msg, size_t size, void *user)
{
    (void)stamp;
    hiss_midi_in *m = user;
    if (size < 2 || size > 3 || msg[0] < 0x80 || msg[0] >= 0xF0)
        return;
    hiss_midi_msg e = {(uint8_t)size, {msg[0], msg[1], size > 2 ? msg[2] : 0}};
    atomic_fetch_add_explicit(&m->received, 1, memory_order_relaxed);
    if (hiss_spsc_write(&m->ring, &e, 1) != 1)
        atomic_fetch_add_explicit(&m->dropped, 1, memory_order_relaxed);
}

static int api_by_name(const char *name, enum RtMidiApi *api, char *msg, size_t n)
{
    *api = RTMIDI_API_UNSPECIFIED;
    if (!name)
        return 0;
    enum RtMidiApi apis[RTMIDI_API_NUM];
    const int na = rtmidi_get_compiled_api(apis, RTMIDI_API_NUM);
    for (int i = 0; i < na; i++)
        if (strcmp(rtmidi_api_name(apis[i]), name) == 0) {
            *api = apis[i];
            return 0;
        }
    size_t o = (size_t)snprintf(msg, n, "MIDI API \"%s\" is not compiled into RtMidi (have:", name);
    for (int i = 0; i < na && o < n; i++)
        o += (size_t)snprintf(msg + o, n - o, " %s", rtmidi_api_name(apis[i]));
    if (o < n)
        snprintf(msg + o, n - o, ")");
    return -1;
}

static void port_name(RtMidiInPtr dev, unsigned i, char *buf, int size)
{
    int len = size;
    buf[0] = 0;
    if (rtmidi_get_port_name(dev, i, buf, &len) < 0)
        snprintf(buf, (size_t)size, "?");
}

int hiss_midi_in_list(const char *api_name, FILE *out)
{
    enum RtMidiApi apis[RTMIDI_API_NUM];
    const int na = rtmidi_get_compiled_api(apis, RTMIDI_API_NUM);
    char msg[256];
    enum RtMidiApi want;
    if (api_by_name(api_name, &want, msg, sizeof msg) != 0) {
        fprintf(stderr, "hiss-host: %s\n", msg);
        return -1;
    }
    for (int a = 0; a < na; a++) {
        if ((api_name && apis[a] != want) || apis[a] == RTMIDI_API_RTMIDI_DUMMY)
            continue;
        RtMidiInPtr dev = rtmidi_in_create(apis[a], "hiss-host-midi", 100);
        if (!dev || !dev->ok) {
            fprintf(out, "%s: unavailable (%s)\n", rtmidi_api_name(apis[a]), dev && dev->msg ? dev->msg : "?");
            if (dev)
                rtmidi_in_free(dev);
            continue;
        }
        const unsigned np = rtmidi_get_port_count(dev);
        fprintf(out, "%s: %u input port%s\n", rtmidi_api_name(apis[a]), np, np == 1 ? "" : "s");
        for (unsigned i = 0; i < np; i++) {
            char name[256];
            port_name(dev, i, name, sizeof name);
            fprintf(out, "  %u: %s\n", i, name);
        }
        rtmidi_in_free(dev);
    }
    return 0;
}

int hiss_midi_in_open(hiss_midi_in *m, const char *api_name, const char *port, const char *virtual_name,
                      char *msg, size_t n)
{
    memset(m, 0, sizeof *m);
    atomic_init(&m->received, 0);
    atomic_init(&m->dropped, 0);
    enum RtMidiApi api;
    if (api_by_name(api_name, &api, msg, n) != 0)
        return -1;
    if (hiss_spsc_init(&m->ring, sizeof(hiss_midi_msg), 1024) != 0) {
        snprintf(msg, n, "out of memory for the MIDI queue");
        return -1;
    }
    RtMidiInPtr dev = rtmidi_in_create(api, "hiss-host-midi", 1024);
    if (!dev || !dev->ok) {
        snprintf(msg, n, "MIDI input (%s): %s", api_name ? api_name : "default API", dev && dev->msg ? dev->msg : "?");
        if (dev)
            rtmidi_in_free(dev);
        hiss_spsc_free(&m->ring);
        return -1;
    }
    m->dev = dev;
    rtmidi_in_ignore_types(dev, true, true, true);
    rtmidi_in_set_callback(dev, on_message, m);
    if (virtual_name) {
        rtmidi_open_virtual_port(dev, virtual_name);
        snprintf(m->port_name, sizeof m->port_name, "%s (virtual, %s)", virtual_name,
                 rtmidi_api_name(rtmidi_in_get_current_api(dev)));
    } else {
        const unsigned np = rtmidi_get_port_count(dev);
        char *end = NULL;
        const long idx = strtol(port, &end, 10);
        unsigned pick = np;
        char name[256];
        if (end && *end == 0 && end != port) {
            if (idx >= 0 && (unsigned long)idx < np)
                pick = (unsigned)idx;
        } else {
            for (unsigned i = 0; i < np && pick == np; i++) {
                port_name(dev, i, name, sizeof name);
                if (strstr(name, port))
                    pick = i;
            }
        }
        if (pick == np) {
            snprintf(msg, n, "MIDI port \"%s\" not found among %u input port%s of %s (see --list-midi)", port, np,
                     np == 1 ? "" : "s", rtmidi_api_name(rtmidi_in_get_current_api(dev)));
            hiss_midi_in_close(m);
            return -1;
        }
        port_name(dev, pick, name, sizeof name);
        rtmidi_open_port(dev, pick, "hiss-host in");
        snprintf(m->port_name, sizeof m->port_name, "%s", name);
    }
    if (!dev->ok) {
        snprintf(msg, n, "MIDI input: %s", dev->msg ? dev->msg : "cannot open the port");
        hiss_midi_in_close(m);
        return -1;
    }
    return 0;
}

void hiss_midi_in_close(hiss_midi_in *m)
{
    if (m->dev) {
        rtmidi_in_cancel_callback(m->dev);
        rtmidi_close_port(m->dev);
        rtmidi_in_free(m->dev);
        m->dev = NULL;
    }
    hiss_spsc_free(&m->ring);
}
