package ring

// cBaseline is the C reference for the ring benchmarks, compiled and run
// by internal/baseline in the same run. Two processes (fork) share an
// anonymous MAP_SHARED mapping.
//
//	ring <size> <n>  a Lamport SPSC ring of 4096 slots with the slot format
//	                 of ring.SPSC (4-byte length, 4 zero bytes, payload
//	                 rounded up to 8): head and tail on separate 128-byte
//	                 lines, each side caching the other's index and
//	                 re-reading it only when the ring looks full or empty;
//	                 one release-store per message; the consumer copies
//	                 each message out and checks it (first and last word).
//	                 Prints mps= (messages per second).
//	spin <n>         ping-pong by spinning on two cache lines: the
//	                 physical floor of any shared-memory hand-off. Prints
//	                 p50_ns= p99_ns= of the round trip (clock_gettime).
const cBaseline = `
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAP 4096u
#define MASK (CAP - 1)

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

struct ctl {
  _Alignas(128) _Atomic uint64_t tail;
  _Alignas(128) _Atomic uint64_t head;
  _Alignas(128) _Atomic uint64_t go;
  uint64_t bad, t1;
  _Alignas(128) unsigned char slots[];
};

static void make(unsigned char *p, size_t size, uint64_t i) {
  if (size == 8) { memcpy(p, &i, 8); return; }
  uint64_t w[8];
  for (int k = 0; k < 8; k++) w[k] = i + (uint64_t)k;
  memcpy(p, w, 64);
}

static int check(const unsigned char *p, size_t size, uint64_t i) {
  uint64_t a, z;
  memcpy(&a, p, 8);
  memcpy(&z, p + size - 8, 8);
  return a != i || (size == 64 && z != i + 7);
}

static void ring(size_t size, uint64_t n) {
  size_t stride = 8 + ((size + 7) & ~(size_t)7);
  size_t total = sizeof(struct ctl) + CAP * stride;
  struct ctl *r = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r == MAP_FAILED) { perror("mmap"); exit(1); }
  pid_t pid = fork();
  if (pid == 0) {
    unsigned char buf[64];
    uint64_t head = 0, ctail = 0, bad = 0;
    while (!atomic_load_explicit(&r->go, memory_order_acquire)) cpu_relax();
    for (uint64_t i = 0; i < n; i++) {
      while (head == ctail) {
        ctail = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (head == ctail) cpu_relax();
      }
      unsigned char *s = r->slots + (head & MASK) * stride;
      uint32_t len;
      memcpy(&len, s, 4);
      if (len > size) len = (uint32_t)size;
      memcpy(buf, s + 8, len);
      bad += check(buf, size, i);
      atomic_store_explicit(&r->head, ++head, memory_order_release);
    }
    r->bad = bad;
    r->t1 = now_ns();
    _exit(0);
  }
  unsigned char msg[64];
  uint64_t tail = 0, chead = 0;
  uint64_t t0 = now_ns();
  atomic_store_explicit(&r->go, 1, memory_order_release);
  for (uint64_t i = 0; i < n; i++) {
    while (tail - chead == CAP) {
      chead = atomic_load_explicit(&r->head, memory_order_acquire);
      if (tail - chead == CAP) cpu_relax();
    }
    make(msg, size, i);
    unsigned char *s = r->slots + (tail & MASK) * stride;
    uint32_t len = (uint32_t)size;
    memcpy(s, &len, 4);
    memcpy(s + 8, msg, size);
    atomic_store_explicit(&r->tail, ++tail, memory_order_release);
  }
  int st;
  waitpid(pid, &st, 0);
  if (r->bad) { fprintf(stderr, "ring data mismatch\n"); exit(1); }
  double dt = (double)(r->t1 - t0) / 1e9;
  printf("case=ring size=%zu n=%llu mps=%.0f ns_per_msg=%.2f\n", size, (unsigned long long)n,
         (double)n / dt, dt * 1e9 / (double)n);
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void spin(uint64_t n) {
  struct ctl *p = mmap(NULL, sizeof(struct ctl), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) { perror("mmap"); exit(1); }
  pid_t pid = fork();
  if (pid == 0) {
    for (uint64_t i = 1; i <= n; i++) {
      while (atomic_load_explicit(&p->tail, memory_order_acquire) != i) ;
      atomic_store_explicit(&p->head, i, memory_order_release);
    }
    _exit(0);
  }
  uint64_t *lat = calloc(n, sizeof *lat);
  for (uint64_t i = 1; i <= n; i++) {
    uint64_t t0 = now_ns();
    atomic_store_explicit(&p->tail, i, memory_order_release);
    while (atomic_load_explicit(&p->head, memory_order_acquire) != i) ;
    lat[i - 1] = now_ns() - t0;
  }
  int st;
  waitpid(pid, &st, 0);
  qsort(lat, n, sizeof *lat, cmp);
  printf("case=spin n=%llu p50_ns=%llu p99_ns=%llu\n", (unsigned long long)n,
         (unsigned long long)lat[n / 2], (unsigned long long)lat[n * 99 / 100]);
}

int main(int argc, char **argv) {
  if (argc >= 4 && !strcmp(argv[1], "ring")) ring((size_t)atoi(argv[2]), strtoull(argv[3], 0, 10));
  else if (argc >= 3 && !strcmp(argv[1], "spin")) spin(strtoull(argv[2], 0, 10));
  else { fprintf(stderr, "usage\n"); return 2; }
  return 0;
}
`

// pyPipeScript times multiprocessing.Pipe round trips of 8-byte messages
// (send_bytes/recv_bytes, echoed by a child) and prints p50_ns= p99_ns=.
const pyPipeScript = `
import multiprocessing as mp, time

def echo(c):
    while True:
        b = c.recv_bytes()
        if not b:
            return
        c.send_bytes(b)

if __name__ == "__main__":
    a, b = mp.Pipe()
    p = mp.Process(target=echo, args=(b,))
    p.start()
    msg = b"12345678"
    for _ in range(200):
        a.send_bytes(msg); a.recv_bytes()
    lat = []
    end = time.perf_counter() + 2
    while time.perf_counter() < end and len(lat) < 20000:
        t0 = time.perf_counter_ns()
        a.send_bytes(msg); a.recv_bytes()
        lat.append(time.perf_counter_ns() - t0)
    a.send_bytes(b"")
    p.join()
    lat.sort()
    print("p50_ns=%d p99_ns=%d n=%d" % (lat[len(lat)//2], lat[len(lat)*99//100], len(lat)))
`

// pyQueueScript streams n ints (argv[2]) from a producer process to the
// main one through multiprocessing.Queue or SimpleQueue (argv[1]), and
// prints items_per_s=, timed at the consumer from the first item to the
// end marker.
const pyQueueScript = `
import multiprocessing as mp, sys, time

def produce(q, n):
    for i in range(n):
        q.put(i)
    q.put(None)

if __name__ == "__main__":
    kind, n = sys.argv[1], int(sys.argv[2])
    ctx = mp.get_context("fork")
    q = ctx.Queue() if kind == "queue" else ctx.SimpleQueue()
    p = ctx.Process(target=produce, args=(q, n))
    p.start()
    if q.get() != 0:
        sys.exit("bad first item")
    t0 = time.perf_counter()
    k = 1
    while True:
        x = q.get()
        if x is None:
            break
        if x != k:
            sys.exit("item %d: %r" % (k, x))
        k += 1
    dt = time.perf_counter() - t0
    p.join()
    print("items_per_s=%.0f n=%d" % ((k - 1) / dt, k))
`
