package ring

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"testing"

	"github.com/shmkit/shmkit/internal/baseline"
)

// cConsumer is an SPSC consumer written from the SPSC type's documented
// layout and protocol alone: it opens the segment by name, checks the
// header, receives until the ring is closed and drained (sleeping on
// notEmpty when empty, waking the producer through notFull after each
// message), and prints how many messages and bytes it got and an FNV-1a
// hash of all their bytes, in order.
const cConsumer = cRingPrelude + `
static unsigned char *base;
static uint32_t slots, stride;

static uint32_t *mark_at(uint64_t h) { return (uint32_t *)(base + 512 + (h & (slots - 1)) * stride + 4); }
static uint32_t ready(uint64_t h) { return (uint32_t)h * 2 + 1; }
static int have_message(void) {
  uint64_t h = LD(head);
  return LD(mark_at(h)) == ready(h) || LD(closed);
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int fd = shm_open(argv[1], O_RDWR, 0);
  if (fd < 0) { perror("shm_open"); return 1; }
  struct stat st;
  fstat(fd, &st);
  base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) { perror("mmap"); return 1; }
  uint32_t *hdr = (uint32_t *)base;
  if (hdr[0] != 0x526d6873 || hdr[1] != 2 || hdr[2] != 1u) { fprintf(stderr, "bad header\n"); return 1; }
  slots = hdr[3]; stride = hdr[5];
  uint32_t slot_size = hdr[4];
  tail = (uint64_t *)(base + 128);
  head = (uint64_t *)(base + 256);
  not_empty = (uint32_t *)(base + 384);
  not_full = (uint32_t *)(base + 388);
  closed = (uint32_t *)(base + 392);
  uint64_t count = 0, bytes = 0, hash = 1469598103934665603ull;
  for (;;) {
    uint64_t h = LD(head);
    uint32_t *m = mark_at(h), v = LD(m);
    if (v != ready(h)) {
      if (!LD(closed)) {
        sleep_on(not_empty, have_message);
        continue;
      }
      /* Closed: poison the mark so that no send publishes at h, unless
         one just did. */
      if (v != POISON) { uint32_t o = v; CAS(m, o, POISON); }
      v = LD(m);
      if (v == POISON) break; /* closed and drained */
      if (v != ready(h)) { fprintf(stderr, "mark %u at %llu\n", v, (unsigned long long)h); return 1; }
    }
    unsigned char *s = base + 512 + (h & (slots - 1)) * stride;
    uint32_t len;
    memcpy(&len, s, 4);
    if (len > slot_size) { fprintf(stderr, "length %u > slot %u\n", len, slot_size); return 1; }
    for (uint32_t i = 0; i < len; i++) { hash ^= s[8 + i]; hash *= 1099511628211ull; }
    count++;
    bytes += len;
    ST(head, h + 1);
    wake(not_full);
  }
  printf("count=%llu bytes=%llu hash=%llu\n", (unsigned long long)count, (unsigned long long)bytes, (unsigned long long)hash);
  return 0;
}
`

// TestCConsumer: a C program consumes an SPSC ring Go writes, from the
// documented layout alone, and gets every message intact and in order.
func TestCConsumer(t *testing.T) {
	bin, err := baseline.Build(cConsumer)
	if errors.Is(err, baseline.ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	n := scaled(200_000, 20_000, 20_000)
	name, _, r := newRingSegment(t, "spsc", 64, 100, 0)
	s := r.(*SPSC)
	cmd := exec.Command(bin, "/"+name)
	out := make(chan []byte, 1)
	errc := make(chan error, 1)
	go func() {
		b, err := cmd.CombinedOutput()
		out <- b
		errc <- err
	}()
	hash, bytes := uint64(1469598103934665603), 0
	msg := make([]byte, s.SlotSize())
	for i := range n {
		k := i % (s.SlotSize() + 1)
		for j := range k {
			msg[j] = byte(i*7 + j)
			hash ^= uint64(msg[j])
			hash *= 1099511628211
		}
		bytes += k
		if err := s.Send(context.Background(), msg[:k]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := <-out, <-errc
	if err != nil {
		t.Fatalf("C consumer: %v: %s", err, got)
	}
	want := "count=" + strconv.Itoa(n) + " bytes=" + strconv.Itoa(bytes) + " hash=" + strconv.FormatUint(hash, 10) + "\n"
	if string(got) != want {
		t.Fatalf("C consumer printed %q, want %q", got, want)
	}
}
