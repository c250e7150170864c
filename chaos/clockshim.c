/* A wall clock off by CHAOS_CLOCK_OFFSET_S seconds (e.g. 3 or -3) for one process tree, through LD_PRELOAD.
 *
 * Only the wall clock moves: clock_gettime(CLOCK_REALTIME*), gettimeofday() and time(). Monotonic clocks and every
 * sleep and timed wait stay true, which is what a host whose NTP is off looks like. Debian's libfaketime does not do
 * this for Python 3.11: faking the monotonic clock hangs its timed waits, and with FAKETIME_DONT_FAKE_MONOTONIC
 * time.sleep() fails with EINVAL (libfaketime rewrites clock_nanosleep's absolute deadline).
 * Built by chaos/nemesis.py with `gcc -shared -fPIC -O2 -o clockshim.so clockshim.c -ldl`.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long offset_ns(void) {
    static int ready;
    static long long offset;
    if (!ready) {
        const char *value = getenv("CHAOS_CLOCK_OFFSET_S");
        offset = value ? (long long)(atof(value) * 1e9) : 0;
        ready = 1;
    }
    return offset;
}

static int (*real_clock_gettime)(clockid_t, struct timespec *);

int clock_gettime(clockid_t clock, struct timespec *ts) {
    if (!real_clock_gettime) {
        real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    }
    int rc = real_clock_gettime(clock, ts);
    if (rc == 0 && (clock == CLOCK_REALTIME || clock == CLOCK_REALTIME_COARSE)) {
        long long total = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + offset_ns();
        ts->tv_sec = (time_t)(total / 1000000000LL);
        ts->tv_nsec = (long)(total % 1000000000LL);
    }
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
    (void)tz;
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

time_t time(time_t *out) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) {
        *out = ts.tv_sec;
    }
    return ts.tv_sec;
}
