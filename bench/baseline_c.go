package bench

// cSource is the C side of the baselines, compiled with gcc -O2 -pthread
// on first use (internal/baseline caches the binary). Two-process modes
// fork a child that shares an anonymous MAP_SHARED mapping with the
// parent. Nothing is pinned, as on the Go side. Each mode runs its timed
// loop for BUDGET_MS after a warm-up.
//
// The programs are adapted from the per-package benchmarks (locks and
// ring), which keep their own copies; this one measures for a time budget
// instead of a count.
const cSource = `
// Usage:
//	prog mutex-uncontended ROBUST BUDGET_MS  -> ns_per_op
//	prog mutex-contended   ROBUST BUDGET_MS  -> incr_per_s peer_share
//	prog ring SIZE BUDGET_MS                 -> mps n
//	prog spin BUDGET_MS                      -> p50_ns p99_ns n
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIE(...) (fprintf(stderr, __VA_ARGS__), fputc('\n', stderr), exit(1))

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static void *map_shared(size_t size) {
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) DIE("mmap: %s", strerror(errno));
	return p;
}

static pid_t fork_or_die(void) {
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) DIE("fork: %s", strerror(errno));
	return pid;
}

static void reap(pid_t pid) {
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) DIE("child failed");
}

static int cmp_u64(const void *a, const void *b) {
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

// ---- mutexes: glibc's process-shared pthread mutex, plain or robust.

struct locked {
	_Alignas(64) pthread_mutex_t mu;
	_Alignas(64) uint64_t counter;
	_Alignas(64) atomic_int ready;
	atomic_int stop;
};

static void init_mutex(pthread_mutex_t *m, int robust) {
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	if (pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) DIE("setpshared");
	if (robust && pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) DIE("setrobust");
	if (pthread_mutex_init(m, &a)) DIE("pthread_mutex_init");
	pthread_mutexattr_destroy(&a);
}

static inline void incr(struct locked *s) {
	int r = pthread_mutex_lock(&s->mu);
	if (r == EOWNERDEAD) pthread_mutex_consistent(&s->mu);
	else if (r) DIE("pthread_mutex_lock: %s", strerror(r));
	s->counter++;
	pthread_mutex_unlock(&s->mu);
}

static uint64_t locked_counter(struct locked *s) {
	if (pthread_mutex_lock(&s->mu)) DIE("pthread_mutex_lock");
	uint64_t c = s->counter;
	pthread_mutex_unlock(&s->mu);
	return c;
}

static void mutex_uncontended(int robust, uint64_t budget) {
	struct locked *s = map_shared(sizeof *s);
	init_mutex(&s->mu, robust);
	for (int i = 0; i < 100000; i++) incr(s);
	uint64_t n = 0, t0 = now_ns(), dt;
	do {
		for (int i = 0; i < 4096; i++) incr(s);
		n += 4096;
	} while ((dt = now_ns() - t0) < budget);
	printf("ns_per_op=%.3f n=%llu\n", (double)dt / n, (unsigned long long)n);
}

// A forked child increments without pause until stop; the parent
// increments for the budget and counts both processes' increments.
static void mutex_contended(int robust, uint64_t budget) {
	struct locked *s = map_shared(sizeof *s);
	init_mutex(&s->mu, robust);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		atomic_store(&s->ready, 1);
		while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) incr(s);
		_exit(0);
	}
	while (!atomic_load(&s->ready)) sched_yield();
	uint64_t c0 = locked_counter(s), mine = 0, t0 = now_ns(), dt;
	do {
		for (int i = 0; i < 256; i++) incr(s);
		mine += 256;
	} while ((dt = now_ns() - t0) < budget);
	uint64_t total = locked_counter(s) - c0;
	atomic_store(&s->stop, 1);
	reap(pid);
	printf("incr_per_s=%.0f peer_share=%.3f\n", total * 1e9 / dt, (double)(total - mine) / total);
}

// ---- ring: a Lamport SPSC ring of 4096 slots with ring.SPSC's slot
// format (4-byte length, 4 zero bytes, payload rounded up to 8); head and
// tail on separate 128-byte lines, each side caching the other's index
// and re-reading it only when the ring looks full or empty; one
// release-store per message. The consumer copies each message out and
// checks it (first and last word).

#define CAP 4096u
#define MASK (CAP - 1)
#define NOT_YET UINT64_MAX

struct ring {
	_Alignas(128) _Atomic uint64_t tail;
	_Alignas(128) _Atomic uint64_t head;
	_Alignas(128) _Atomic uint64_t go;
	_Atomic uint64_t end; // the producer's final tail, NOT_YET until it stops
	uint64_t bad, t1;
	_Alignas(128) unsigned char slots[];
};

static void make(unsigned char *p, size_t size, uint64_t i) {
	uint64_t w[8];
	for (size_t k = 0; k < size / 8; k++) w[k] = i + k;
	memcpy(p, w, size);
}

static int check(const unsigned char *p, size_t size, uint64_t i) {
	uint64_t a, z;
	memcpy(&a, p, 8);
	memcpy(&z, p + size - 8, 8);
	return a != i || z != i + size / 8 - 1;
}

static void ring(size_t size, uint64_t budget) {
	if (size < 8 || size > 64 || size % 8) DIE("size must be 8..64, a multiple of 8");
	size_t stride = 8 + size;
	struct ring *r = map_shared(sizeof(struct ring) + CAP * stride);
	atomic_store(&r->end, NOT_YET);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		unsigned char buf[64];
		uint64_t head = 0, ctail = 0, bad = 0;
		while (!atomic_load_explicit(&r->go, memory_order_acquire)) cpu_relax();
		for (;;) {
			while (head == ctail) {
				ctail = atomic_load_explicit(&r->tail, memory_order_acquire);
				if (head != ctail) break;
				if (atomic_load_explicit(&r->end, memory_order_acquire) == head) goto done;
				cpu_relax();
			}
			unsigned char *s = r->slots + (head & MASK) * stride;
			uint32_t len;
			memcpy(&len, s, 4);
			if (len > size) len = (uint32_t)size;
			memcpy(buf, s + 8, len);
			bad += check(buf, size, head);
			atomic_store_explicit(&r->head, ++head, memory_order_release);
		}
	done:
		r->bad = bad;
		r->t1 = now_ns();
		_exit(0);
	}
	unsigned char msg[64];
	uint64_t tail = 0, chead = 0;
	uint64_t t0 = now_ns();
	atomic_store_explicit(&r->go, 1, memory_order_release);
	do {
		for (int k = 0; k < 1024; k++) {
			while (tail - chead == CAP) {
				chead = atomic_load_explicit(&r->head, memory_order_acquire);
				if (tail - chead == CAP) cpu_relax();
			}
			make(msg, size, tail);
			unsigned char *s = r->slots + (tail & MASK) * stride;
			uint32_t len = (uint32_t)size;
			memcpy(s, &len, 4);
			memcpy(s + 8, msg, size);
			atomic_store_explicit(&r->tail, ++tail, memory_order_release);
		}
	} while (now_ns() - t0 < budget);
	atomic_store_explicit(&r->end, tail, memory_order_release);
	reap(pid);
	if (r->bad) DIE("ring: %llu bad messages", (unsigned long long)r->bad);
	double dt = (double)(r->t1 - t0) / 1e9;
	printf("mps=%.0f n=%llu\n", (double)tail / dt, (unsigned long long)tail);
}

// ---- spin: ping-pong by spinning on two cache lines, the physical floor
// of any shared-memory hand-off.

#define MAX_SAMPLES (1u << 21)
#define STOP UINT64_MAX

static void spin(uint64_t budget) {
	struct ring *p = map_shared(sizeof(struct ring));
	pid_t pid = fork_or_die();
	if (pid == 0) {
		uint64_t last = 0;
		for (;;) {
			uint64_t v;
			while ((v = atomic_load_explicit(&p->tail, memory_order_acquire)) == last) cpu_relax();
			if (v == STOP) _exit(0);
			atomic_store_explicit(&p->head, v, memory_order_release);
			last = v;
		}
	}
	uint64_t *lat = calloc(MAX_SAMPLES, sizeof *lat);
	if (!lat) DIE("calloc");
	uint64_t i = 1, n = 0, t0 = now_ns(), t = t0;
	for (; i <= 1000; i++) { // warm up
		atomic_store_explicit(&p->tail, i, memory_order_release);
		while (atomic_load_explicit(&p->head, memory_order_acquire) != i) cpu_relax();
	}
	t0 = t = now_ns();
	while (t - t0 < budget && n < MAX_SAMPLES) {
		atomic_store_explicit(&p->tail, i, memory_order_release);
		while (atomic_load_explicit(&p->head, memory_order_acquire) != i) cpu_relax();
		uint64_t t1 = now_ns();
		lat[n++] = t1 - t;
		t = t1;
		i++;
	}
	atomic_store_explicit(&p->tail, STOP, memory_order_release);
	reap(pid);
	qsort(lat, n, sizeof *lat, cmp_u64);
	printf("p50_ns=%llu p99_ns=%llu n=%llu\n", (unsigned long long)lat[n / 2],
	       (unsigned long long)lat[n * 99 / 100], (unsigned long long)n);
}

int main(int argc, char **argv) {
	if (argc == 4 && !strcmp(argv[1], "mutex-uncontended"))
		mutex_uncontended(atoi(argv[2]), strtoull(argv[3], 0, 10) * 1000000);
	else if (argc == 4 && !strcmp(argv[1], "mutex-contended"))
		mutex_contended(atoi(argv[2]), strtoull(argv[3], 0, 10) * 1000000);
	else if (argc == 4 && !strcmp(argv[1], "ring"))
		ring((size_t)atoi(argv[2]), strtoull(argv[3], 0, 10) * 1000000);
	else if (argc == 3 && !strcmp(argv[1], "spin"))
		spin(strtoull(argv[2], 0, 10) * 1000000);
	else
		DIE("usage: %s mutex-uncontended|mutex-contended ROBUST BUDGET_MS | ring SIZE BUDGET_MS | spin BUDGET_MS", argv[0]);
	return 0;
}
`
