/* A minimal PNG writer (8-bit RGB, stored deflate blocks): enough for hiss-train's loss plot
 * without a dependency on libpng or zlib. The file is larger than a compressed one, which does
 * not matter for a plot of a few hundred kilobytes. */
#ifndef HISS_TRAIN_PNG_H
#define HISS_TRAIN_PNG_H

#include <stddef.h>
#include <stdint.h>

/* rgb: h rows of w pixels, 3 bytes each. 0, or -1 (errno tells why). */
int png_write_rgb(const char *path, const uint8_t *rgb, int w, int h);

#endif
