#ifndef GAPWATCH_CZLIB_H
#define GAPWATCH_CZLIB_H
#include <zlib.h>

/// inflateInit2 / deflateInit2 are macros in zlib.h, which Swift cannot call; these wrappers can.
int gw_inflate_init2(z_streamp strm, int window_bits);
int gw_deflate_init2(z_streamp strm, int level, int window_bits, int mem_level);
#endif
