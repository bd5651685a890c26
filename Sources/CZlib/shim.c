#include "CZlib.h"

int gw_inflate_init2(z_streamp strm, int window_bits) { return inflateInit2(strm, window_bits); }

int gw_deflate_init2(z_streamp strm, int level, int window_bits, int mem_level) {
    return deflateInit2(strm, level, Z_DEFLATED, window_bits, mem_level, Z_DEFAULT_STRATEGY);
}
