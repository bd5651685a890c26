#ifndef GAPWATCH_CCURL_H
#define GAPWATCH_CCURL_H
#include <curl/curl.h>

// curl_easy_setopt and curl_easy_getinfo are variadic; Swift cannot call C variadics, so each
// argument type gets a typed wrapper.
typedef size_t (*gw_curl_data_fn)(char *ptr, size_t size, size_t nmemb, void *userdata);

CURLcode gw_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode gw_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode gw_curl_setopt_ptr(CURL *handle, CURLoption option, void *value);
CURLcode gw_curl_setopt_str(CURL *handle, CURLoption option, const char *value);
CURLcode gw_curl_setopt_data_fn(CURL *handle, CURLoption option, gw_curl_data_fn fn);
CURLcode gw_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode gw_curl_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value);

// For a process that will make no TLS connection: initialises OpenSSL (which curl_global_init does
// whatever its flags, since curl 7.57) without its error strings, config file and legacy cipher and
// digest tables, which cost about 1 MiB of resident memory. Call before curl_global_init. Returns 0
// when libcurl's TLS library is not OpenSSL (nothing to do).
int gw_tls_init_minimal(void);
#endif
