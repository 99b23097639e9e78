/* libsndfile helpers shared by the tools: the container for a file name, the sample format of an
 * output, reading a whole file, and writing through a temporary file that replaces the target
 * only once complete. */
#ifndef HISS_AUDIOFILE_H
#define HISS_AUDIOFILE_H

#include <stddef.h>
#include <sndfile.h>

/* The major format (SF_FORMAT_WAV, ...) for path's extension, from libsndfile's own format table
 * (first entry wins: "wav" is Microsoft WAV) plus the aliases ogg, aif, aifc and wave; 0 when the
 * extension is missing or unknown. */
int hiss_af_major_for_path(const char *path);
/* The extensions hiss_af_major_for_path knows, comma-separated, for messages. */
void hiss_af_list_extensions(char *buf, size_t n);
/* Names from libsndfile's table ("WAV (Microsoft)", "32 bit float"); "?" when unknown. */
const char *hiss_af_major_name(int format);
const char *hiss_af_subtype_name(int format);

/* The output format for container `major`: `want` is a subtype (SF_FORMAT_FLOAT, _PCM_24,
 * _PCM_16) or 0 for the default, which is in_format's subtype when it is one of those three,
 * else the first of float, 24-bit, 16-bit and then libsndfile's other subtypes that the
 * container can hold. An explicit `want` the container cannot hold is an error (-1, msg). */
int hiss_af_pick_format(int major, int want, int in_format, int channels, int rate, int *format,
                        char *msg, size_t n);

/* The whole of path as floats, its channels interleaved, as libsndfile scales them (integer PCM
 * to [-1, 1): 16-bit by 1/32768, 24-bit by 1/8388608); *x is malloc'ed. 0, or -1 with msg naming
 * path and what is wrong (unreadable, no frames, short read). */
int hiss_af_read(const char *path, float **x, size_t *frames, int *channels, int *rate, char *msg,
                 size_t n);

/* 1 when a and b name the same existing file (same device and inode), else 0. */
int hiss_af_same_file(const char *a, const char *b);

typedef struct hiss_af_writer {
    SNDFILE *sf;
    int fd;
    char *tmp_path; /* "<path>.hiss-tmp-XXXXXX" while open */
    char *path;
} hiss_af_writer;

/* Create the temporary file in path's directory (permissions as a new file would get) and open it
 * for writing in info's format. 0, or -1 with msg. */
int hiss_af_writer_open(hiss_af_writer *w, const char *path, SF_INFO *info, char *msg, size_t n);
/* Finish the file and rename it over path. 0, or -1 with msg (the temporary file is removed). */
int hiss_af_writer_commit(hiss_af_writer *w, char *msg, size_t n);
/* Close and remove the temporary file; harmless after a failed open or a commit. */
void hiss_af_writer_abort(hiss_af_writer *w);

#endif
