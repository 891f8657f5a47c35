package baseline

// CSource is the C side of the baselines: one program with a mode per
// measurement, compiled with gcc -O2 -pthread (Build, RunC) and run as
//
//	prog MODE ARGS... [pin]
//
// Two-process modes fork a child that shares an anonymous MAP_SHARED
// mapping with the parent. Nothing is pinned unless the last argument is
// "pin": then the parent of a two-process mode runs on the first CPU the
// program may use and the child on the second (when there are two), as
// taskset(1) would place them. Each mode runs its timed loop, in most
// after a warm-up, for BUDGET_MS milliseconds, or as it says, and prints
// its figures as key=value fields on one line. The modes, what each
// measures and what it prints:
//
//	mutex-uncontended ROBUST BUDGET_MS
//	    Lock, increment, unlock of glibc's process-shared pthread mutex
//	    (robust if ROBUST is 1, plain if 0) in MAP_SHARED memory, by one
//	    process. Prints ns_per_op (per lock-increment-unlock) and n.
//	mutex-contended ROBUST BUDGET_MS
//	    The same increments by two processes at once: a forked child
//	    increments without pause until told to stop, the parent for the
//	    budget. Prints incr_per_s (both processes' increments per second),
//	    ns_per_incr and peer_share (the child's fraction of them).
//	sem-pingpong BUDGET_MS
//	    Round trips between the parent and a forked child through two
//	    process-shared POSIX semaphores (sem_post, sem_wait). Prints p50_ns,
//	    p99_ns and mean_ns of the round trip, and n.
//	ring SIZE BUDGET_MS [LIMIT]
//	    SIZE-byte messages (8 to 64, a multiple of 8) from the parent to a
//	    forked child through a Lamport SPSC ring of 4096 slots with
//	    ring.SPSC's slot format (4-byte length, 4 zero bytes, payload
//	    rounded up to 8): head and tail on separate 128-byte lines, each
//	    side caching the other's index and re-reading it only when the ring
//	    looks full or empty, one release-store per message; the consumer
//	    copies each message out and checks it (first and last word). The
//	    producer stops after BUDGET_MS (0: no time limit) or LIMIT messages
//	    (0 or absent: no limit), whichever comes first. Prints mps (messages
//	    per second, until the consumer has taken the last) and n.
//	spin BUDGET_MS [LIMIT [PAUSE]]
//	    Ping-pong between the parent and a forked child spinning on two
//	    cache lines, the physical floor of any shared-memory hand-off, for
//	    BUDGET_MS (0: no time limit) or LIMIT round trips (0 or absent: at
//	    most 2^21), whichever comes first. Both sides spin with the CPU's
//	    spin-wait hint (pause, yield) between reads, or on bare loads if
//	    PAUSE is 0; which is faster depends on the CPU. Prints p50_ns and
//	    p99_ns of the round trip (clock_gettime), and n.
const CSource = `
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
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

// Placement, with "pin": the parent (party 0) on the first CPU this
// process may use, the child (party 1) on the second, when there are two.
static int cpus[2], ncpus;

static void find_cpus(void) {
	cpu_set_t s;
	if (sched_getaffinity(0, sizeof s, &s)) return;
	for (int c = 0; c < CPU_SETSIZE && ncpus < 2; c++)
		if (CPU_ISSET(c, &s)) cpus[ncpus++] = c;
}

static void pin(int party) {
	if (ncpus < 2) return;
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpus[party], &s);
	if (sched_setaffinity(0, sizeof s, &s)) DIE("sched_setaffinity: %s", strerror(errno));
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

// ---- mutexes and semaphores: glibc's process-shared pthread mutex, plain
// or robust, and POSIX semaphore.

struct shared {
	_Alignas(64) pthread_mutex_t mu;
	_Alignas(64) uint64_t counter;
	_Alignas(64) sem_t ping;
	_Alignas(64) sem_t pong;
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

static inline void incr(struct shared *s) {
	int r = pthread_mutex_lock(&s->mu);
	if (r == EOWNERDEAD) pthread_mutex_consistent(&s->mu);
	else if (r) DIE("pthread_mutex_lock: %s", strerror(r));
	s->counter++;
	pthread_mutex_unlock(&s->mu);
}

static uint64_t locked_counter(struct shared *s) {
	if (pthread_mutex_lock(&s->mu)) DIE("pthread_mutex_lock");
	uint64_t c = s->counter;
	pthread_mutex_unlock(&s->mu);
	return c;
}

static void mutex_uncontended(int robust, uint64_t budget) {
	struct shared *s = map_shared(sizeof *s);
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
	struct shared *s = map_shared(sizeof *s);
	init_mutex(&s->mu, robust);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pin(1);
		atomic_store(&s->ready, 1);
		while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) incr(s);
		_exit(0);
	}
	pin(0);
	while (!atomic_load(&s->ready)) sched_yield();
	uint64_t c0 = locked_counter(s), mine = 0, t0 = now_ns(), dt;
	do {
		for (int i = 0; i < 1024; i++) incr(s);
		mine += 1024;
	} while ((dt = now_ns() - t0) < budget);
	uint64_t total = locked_counter(s) - c0;
	atomic_store(&s->stop, 1);
	reap(pid);
	printf("incr_per_s=%.0f ns_per_incr=%.3f peer_share=%.3f\n", total * 1e9 / dt, (double)dt / total,
	       (double)(total - mine) / total);
}

static void sem_wait_or_die(sem_t *s) {
	while (sem_wait(s))
		if (errno != EINTR) DIE("sem_wait: %s", strerror(errno));
}

// The parent posts ping and waits for pong; the child answers.
static void sem_pingpong(uint64_t budget) {
	struct shared *s = map_shared(sizeof *s);
	if (sem_init(&s->ping, 1, 0) || sem_init(&s->pong, 1, 0)) DIE("sem_init");
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pin(1);
		for (;;) {
			sem_wait_or_die(&s->ping);
			if (atomic_load(&s->stop)) _exit(0);
			sem_post(&s->pong);
		}
	}
	pin(0);
	enum { max_samples = 1 << 16 };
	static uint64_t lat[max_samples];
	for (int i = 0; i < 100; i++) {
		sem_post(&s->ping);
		sem_wait_or_die(&s->pong);
	}
	uint64_t n = 0, t0 = now_ns(), t = t0;
	while (t - t0 < budget && n < max_samples) {
		sem_post(&s->ping);
		sem_wait_or_die(&s->pong);
		uint64_t t1 = now_ns();
		lat[n++] = t1 - t;
		t = t1;
	}
	atomic_store(&s->stop, 1);
	sem_post(&s->ping);
	reap(pid);
	double mean = (double)(t - t0) / n;
	qsort(lat, n, sizeof lat[0], cmp_u64);
	printf("p50_ns=%llu p99_ns=%llu mean_ns=%.0f n=%llu\n", (unsigned long long)lat[n / 2],
	       (unsigned long long)lat[n * 99 / 100], mean, (unsigned long long)n);
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

// make fills message i, at p[0:64]: words i, i+1, ..., of which the first
// size/8 are sent.
static void make(unsigned char *p, size_t size, uint64_t i) {
	if (size == 8) {
		memcpy(p, &i, 8);
		return;
	}
	uint64_t w[8];
	for (int k = 0; k < 8; k++) w[k] = i + (uint64_t)k;
	memcpy(p, w, 64);
}

static int check(const unsigned char *p, size_t size, uint64_t i) {
	uint64_t a, z;
	memcpy(&a, p, 8);
	memcpy(&z, p + size - 8, 8);
	return a != i || z != i + size / 8 - 1;
}

// The producer sends for the budget (0: no time limit) or limit messages
// (0: no limit), whichever comes first.
static void ring(size_t size, uint64_t budget, uint64_t limit) {
	if (size < 8 || size > 64 || size % 8) DIE("size must be 8..64, a multiple of 8");
	if (!limit) limit = UINT64_MAX;
	size_t stride = 8 + size;
	struct ring *r = map_shared(sizeof(struct ring) + CAP * stride);
	atomic_store(&r->end, NOT_YET);
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pin(1);
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
	pin(0);
	unsigned char msg[64];
	uint64_t tail = 0, chead = 0;
	uint64_t t0 = now_ns();
	atomic_store_explicit(&r->go, 1, memory_order_release);
	do {
		uint64_t m = limit - tail < 1024 ? limit - tail : 1024;
		for (uint64_t k = 0; k < m; k++) {
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
	} while (tail < limit && (!budget || now_ns() - t0 < budget));
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

// SPIN_WHILE spins while cond holds, with the CPU's spin-wait hint between
// tries if pause is set, on bare loads if not.
#define SPIN_WHILE(cond, pause) \
	do { \
		if (pause) \
			while (cond) cpu_relax(); \
		else \
			while (cond) {} \
	} while (0)

// The parent times round trips for the budget (0: no time limit) or limit
// round trips (0: MAX_SAMPLES), whichever comes first.
static void spin(uint64_t budget, uint64_t limit, int pause) {
	if (!limit || limit > MAX_SAMPLES) limit = MAX_SAMPLES;
	struct ring *p = map_shared(sizeof(struct ring));
	pid_t pid = fork_or_die();
	if (pid == 0) {
		pin(1);
		uint64_t last = 0;
		for (;;) {
			uint64_t v;
			SPIN_WHILE((v = atomic_load_explicit(&p->tail, memory_order_acquire)) == last, pause);
			if (v == STOP) _exit(0);
			atomic_store_explicit(&p->head, v, memory_order_release);
			last = v;
		}
	}
	pin(0);
	uint64_t *lat = calloc(limit, sizeof *lat);
	if (!lat) DIE("calloc");
	uint64_t i = 1, n = 0, t0, t;
	for (; i <= 1000; i++) { // warm up
		atomic_store_explicit(&p->tail, i, memory_order_release);
		SPIN_WHILE(atomic_load_explicit(&p->head, memory_order_acquire) != i, pause);
	}
	t0 = t = now_ns();
	while ((!budget || t - t0 < budget) && n < limit) {
		atomic_store_explicit(&p->tail, i, memory_order_release);
		SPIN_WHILE(atomic_load_explicit(&p->head, memory_order_acquire) != i, pause);
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

static uint64_t num(const char *s) { return strtoull(s, 0, 10); }

int main(int argc, char **argv) {
	if (argc > 2 && !strcmp(argv[argc - 1], "pin")) {
		find_cpus();
		argc--;
	}
	const char *mode = argc > 1 ? argv[1] : "";
	if (argc == 4 && !strcmp(mode, "mutex-uncontended"))
		mutex_uncontended(atoi(argv[2]), num(argv[3]) * 1000000);
	else if (argc == 4 && !strcmp(mode, "mutex-contended"))
		mutex_contended(atoi(argv[2]), num(argv[3]) * 1000000);
	else if (argc == 3 && !strcmp(mode, "sem-pingpong"))
		sem_pingpong(num(argv[2]) * 1000000);
	else if ((argc == 4 || argc == 5) && !strcmp(mode, "ring") && (num(argv[3]) || (argc == 5 && num(argv[4]))))
		ring((size_t)atoi(argv[2]), num(argv[3]) * 1000000, argc == 5 ? num(argv[4]) : 0);
	else if (argc >= 3 && argc <= 5 && !strcmp(mode, "spin") && (num(argv[2]) || (argc >= 4 && num(argv[3]))))
		spin(num(argv[2]) * 1000000, argc >= 4 ? num(argv[3]) : 0, argc == 5 ? atoi(argv[4]) : 1);
	else
		DIE("usage: %s MODE ARGS... [pin], MODE ARGS one of\n"
		    "\tmutex-uncontended|mutex-contended ROBUST BUDGET_MS\n"
		    "\tsem-pingpong BUDGET_MS\n"
		    "\tring SIZE BUDGET_MS [LIMIT]\n"
		    "\tspin BUDGET_MS [LIMIT [PAUSE]]\n"
		    "(BUDGET_MS and LIMIT of ring and spin not both 0)",
		    argv[0]);
	return 0;
}
`
