/* The floor under the agent's RSS: a C program that links the system libcurl, makes one plain-HTTP
 * POST and prints its own resident memory. No Swift, no TLS initialisation (CURL_GLOBAL_NOTHING). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static size_t discard(char *p, size_t size, size_t n, void *user) { (void)p; (void)user; return size * n; }

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: curl_rss URL\n"); return 2; }
    curl_global_init(CURL_GLOBAL_NOTHING);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, argv[1]);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "{}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    CURLcode rc = curl_easy_perform(c);
    printf("curl_easy_perform: %s\n", curl_easy_strerror(rc));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "grep -E 'VmRSS|RssAnon|RssFile' /proc/%d/status", (int)getpid());
    return system(cmd) == 0 && rc == CURLE_OK ? 0 : 1;
}
