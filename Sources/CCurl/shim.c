#define _GNU_SOURCE
#include "CCurl.h"
#include <dlfcn.h>
#include <stdint.h>

CURLcode gw_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
CURLcode gw_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
CURLcode gw_curl_setopt_ptr(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
CURLcode gw_curl_setopt_str(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
CURLcode gw_curl_setopt_data_fn(CURL *h, CURLoption o, gw_curl_data_fn f) { return curl_easy_setopt(h, o, f); }
CURLcode gw_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
CURLcode gw_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }

// OpenSSL's OPENSSL_INIT_* bits (openssl/crypto.h, openssl/ssl.h), so that no OpenSSL headers are
// needed: the symbol is looked up in the libraries libcurl already loaded.
#define GW_OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS 0x00000001ULL
#define GW_OPENSSL_INIT_NO_ADD_ALL_CIPHERS 0x00000010ULL
#define GW_OPENSSL_INIT_NO_ADD_ALL_DIGESTS 0x00000020ULL
#define GW_OPENSSL_INIT_NO_LOAD_CONFIG 0x00000080ULL
#define GW_OPENSSL_INIT_NO_LOAD_SSL_STRINGS 0x00100000ULL

int gw_tls_init_minimal(void) {
    // Each OpenSSL init step runs once per process: these NO_ variants take the place of the
    // loading that libcurl asks for next.
    int (*init)(uint64_t, const void *) = (int (*)(uint64_t, const void *))dlsym(RTLD_DEFAULT, "OPENSSL_init_ssl");
    if (!init) return 0;
    return init(GW_OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS | GW_OPENSSL_INIT_NO_LOAD_SSL_STRINGS | GW_OPENSSL_INIT_NO_LOAD_CONFIG
                    | GW_OPENSSL_INIT_NO_ADD_ALL_CIPHERS | GW_OPENSSL_INIT_NO_ADD_ALL_DIGESTS,
                NULL);
}
