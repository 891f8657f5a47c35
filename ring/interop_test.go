package ring

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/shmkit/shmkit/internal/baseline"
)

// cRingPrelude is what the C producer and consumer share, written from the
// documented protocol (docs/layout-ring.md): sequentially consistent
// atomics, the positions and wait words, futex calls with a backstop, the
// waker's step and the sleeper's steps (announce, re-check, wait).
const cRingPrelude = `
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define ST(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define CAS(p, o, n) __atomic_compare_exchange_n((p), &(o), (n), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define CLOSED (1ull << 63) /* MPMC: in tail */
#define POISON 2u            /* SPSC: a closed slot's mark */

static uint64_t *tail, *head;
static uint32_t *not_empty, *not_full, *closed;

static void futex_wait(uint32_t *w, uint32_t v) {
  struct timespec ts = {0, 10 * 1000 * 1000}; /* backstop: look again */
  syscall(SYS_futex, w, FUTEX_WAIT, v, &ts, 0, 0);
}
static void futex_wake(uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, INT_MAX, 0, 0, 0); }

/* The waker's step, after each publication. */
static void wake(uint32_t *w) {
  for (;;) {
    uint32_t v = LD(w);
    if (!(v & 1)) return;
    if (CAS(w, v, v + 1)) { futex_wake(w); return; }
  }
}

/* The sleeper's steps 1 and 3; ready is the re-check (step 2). */
static void sleep_on(uint32_t *w, int (*ready)(void)) {
  uint32_t v = LD(w);
  if (!(v & 1)) {
    uint32_t o = v;
    if (!CAS(w, o, v | 1)) return;
    v |= 1;
  }
  if (ready()) return;
  futex_wait(w, v);
}
`

// cProducer is a producer for both rings written from their documented
// layout and protocol alone (SPSC and MPMC type documentation): it opens
// a segment by name, checks the header, sends n messages "c<i>" padded to
// a length that varies with i, sleeping on notFull when the ring is full,
// then closes the ring. It shows the documentation is enough to interoperate.
const cProducer = cRingPrelude + `
static unsigned char *base;
static uint32_t slots, slot_size, stride;

static int spsc_room(void) { return LD(closed) || LD(tail) - LD(head) < slots; }
static int mpmc_room(void) {
  uint64_t t = LD(tail);
  if (t & CLOSED) return 1;
  uint64_t q = LD((uint64_t *)(base + 512 + (t & (slots - 1)) * stride));
  return q != t - slots && q != t - slots + 1;
}

static size_t make(unsigned char *p, uint64_t i) {
  size_t n = (size_t)snprintf((char *)p, slot_size, "c%llu", (unsigned long long)i);
  size_t want = (size_t)(i % (slot_size + 1));
  if (want > n) { memset(p + n, '.', want - n); n = want; }
  return n;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  int fd = shm_open(argv[1], O_RDWR, 0);
  if (fd < 0) { perror("shm_open"); return 1; }
  struct stat st;
  fstat(fd, &st);
  base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) { perror("mmap"); return 1; }
  int mpmc = !strcmp(argv[2], "mpmc");
  uint64_t n = strtoull(argv[3], 0, 10);
  uint32_t *hdr = (uint32_t *)base;
  if (hdr[0] != 0x526d6873 || hdr[1] != 2 || hdr[2] != (mpmc ? 2u : 1u)) {
    fprintf(stderr, "bad header\n");
    return 1;
  }
  slots = hdr[3]; slot_size = hdr[4]; stride = hdr[5];
  tail = (uint64_t *)(base + 128);
  head = (uint64_t *)(base + 256);
  not_empty = (uint32_t *)(base + 384);
  not_full = (uint32_t *)(base + 388);
  closed = (uint32_t *)(base + 392);
  uint32_t pid = (uint32_t)getpid();
  unsigned char msg[4096];
  for (uint64_t i = 0; i < n; i++) {
    size_t len = make(msg, i);
    if (!mpmc) {
      if (LD(closed)) return 3;
      uint64_t t = LD(tail);
      while (t - LD(head) == slots) {
        sleep_on(not_full, spsc_room);
        if (LD(closed)) return 3;
      }
      unsigned char *s = base + 512 + (t & (slots - 1)) * stride;
      uint32_t l = (uint32_t)len;
      memcpy(s, &l, 4);
      memcpy(s + 8, msg, len);
      /* Publish: the mark from free (0 on the first lap, the previous
         lap's ready mark after) to ready; a poisoned mark means closed. */
      uint32_t *mark = (uint32_t *)(s + 4);
      uint32_t free_ = t < slots ? 0 : (uint32_t)(t - slots) * 2 + 1;
      if (!CAS(mark, free_, (uint32_t)t * 2 + 1)) return free_ == POISON ? 3 : 4;
      ST(tail, t + 1);
    } else {
      uint64_t t;
      unsigned char *s;
      for (;;) {
        t = LD(tail);
        if (t & CLOSED) return 3;
        s = base + 512 + (t & (slots - 1)) * stride;
        uint64_t q = LD((uint64_t *)s);
        if (q == t) {
          uint64_t o = t;
          if (CAS(tail, o, t + 1)) break;
        } else if (q == t - slots || q == t - slots + 1) {
          sleep_on(not_full, mpmc_room);
        }
      }
      uint32_t round = (uint32_t)((t / slots) & 0xff);
      uint64_t meta = (uint64_t)len | (uint64_t)(pid | round << 23) << 32;
      __atomic_store_n((uint64_t *)(s + 8), meta, __ATOMIC_SEQ_CST);
      memcpy(s + 16, msg, len);
      uint64_t o = t;
      if (!CAS((uint64_t *)s, o, t + 1)) return 4;
    }
    wake(not_empty);
  }
  /* Close: set closed (SPSC) or bit 63 of tail (MPMC), bump both words,
     wake all. */
  if (mpmc) __atomic_fetch_or(tail, CLOSED, __ATOMIC_SEQ_CST);
  else ST(closed, 1);
  uint32_t *ws[2] = {not_empty, not_full};
  for (int k = 0; k < 2; k++) {
    for (;;) {
      uint32_t v = LD(ws[k]);
      if (CAS(ws[k], v, (v | 1) + 1)) break;
    }
    futex_wake(ws[k]);
  }
  printf("sent=%llu\n", (unsigned long long)n);
  return 0;
}
`

// TestCProducer runs cProducer against SPSC and MPMC rings in a named
// segment; this process receives, with two receivers for MPMC, and checks
// every message.
func TestCProducer(t *testing.T) {
	bin, err := baseline.Build(cProducer)
	if errors.Is(err, baseline.ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := scaled(200_000, 20_000, 20_000)
	for _, kind := range []string{"spsc", "mpmc"} {
		t.Run(kind, func(t *testing.T) {
			name, _, r := newRingSegment(t, kind, 64, 100, 0)
			cmd := exec.Command(bin, "/"+name, kind, strconv.Itoa(n))
			done := make(chan error, 1)
			var out []byte
			go func() {
				var err error
				out, err = cmd.CombinedOutput()
				done <- err
			}()
			receivers := 1
			if kind == "mpmc" {
				receivers = 2
			}
			seen := make([]bool, n)
			results := make(chan error, receivers)
			var mu sync.Mutex
			for range receivers {
				go func() {
					buf := make([]byte, r.SlotSize())
					last := -1
					for {
						k, err := r.Recv(context.Background(), buf)
						if err == ErrClosed {
							results <- nil
							return
						}
						if err != nil {
							results <- err
							return
						}
						var i int
						if _, err := fmt.Sscanf(string(buf[:k]), "c%d", &i); err != nil || i < 0 || i >= n || i <= last {
							results <- fmt.Errorf("message %q after %d: %v", buf[:k], last, err)
							return
						}
						if want := i % (r.SlotSize() + 1); k != max(want, len(fmt.Sprintf("c%d", i))) {
							results <- fmt.Errorf("message %d: %d bytes", i, k)
							return
						}
						last = i
						mu.Lock()
						twice := seen[i]
						seen[i] = true
						mu.Unlock()
						if twice {
							results <- fmt.Errorf("message %d twice", i)
							return
						}
					}
				}()
			}
			for range receivers {
				if err := <-results; err != nil {
					t.Fatal(err)
				}
			}
			if err := <-done; err != nil {
				t.Fatalf("C producer: %v: %s", err, out)
			}
			for i, ok := range seen {
				if !ok {
					t.Fatalf("message %d missing", i)
				}
			}
		})
	}
}
