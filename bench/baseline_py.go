package bench

// pySource is the Python side of the baselines: CPython's multiprocessing
// doing what each case does, run as `python3 FILE MODE BUDGET_MS` (a file,
// not -c: the spawn and forkserver methods re-import the main module by
// path). Two-process modes use the fork context, Python's Linux default
// before 3.14, unless the mode is about a start method. Nothing is pinned.
// Each mode warms up, runs its timed loop for the budget (at least once)
// and prints key=value figures.
//
// The modes are adapted from the per-package benchmarks and from the
// machine's reference suite; those keep their own copies.
const pySource = `
import multiprocessing as mp
import sys
import time

now = time.perf_counter_ns


def pct(lat, p):
    lat.sort()
    return lat[min(len(lat) * p // 100, len(lat) - 1)]


# event: round trips through two Events with a child that answers.
def event_echo(ping, pong, stop):
    while True:
        ping.wait()
        ping.clear()
        if stop.value:
            return
        pong.set()


def event(budget):
    ctx = mp.get_context("fork")
    ping, pong, stop = ctx.Event(), ctx.Event(), ctx.RawValue("i", 0)
    child = ctx.Process(target=event_echo, args=(ping, pong, stop))
    child.start()

    def rtt():
        ping.set()
        pong.wait()
        pong.clear()

    for _ in range(100):
        rtt()
    lat = []
    t0 = t = now()
    while t - t0 < budget or not lat:
        rtt()
        t1 = now()
        lat.append(t1 - t)
        t = t1
    stop.value = 1
    ping.set()
    child.join()
    print("p50_ns=%d p99_ns=%d n=%d" % (pct(lat, 50), pct(lat, 99), len(lat)))


# value: two processes increment one Value('q') under get_lock().
def value_incr(v, ready, stop):
    lock = v.get_lock()
    ready.value += 1
    while not stop.value:
        for _ in range(64):
            with lock:
                v.value += 1


def value(budget):
    ctx = mp.get_context("fork")
    v, ready, stop = ctx.Value("q", 0), ctx.Value("i", 0), ctx.RawValue("i", 0)
    child = ctx.Process(target=value_incr, args=(v, ready, stop))
    child.start()
    while ready.value == 0:
        time.sleep(0.0001)
    lock = v.get_lock()
    with lock:
        v0 = v.value
    t0 = now()
    while True:
        for _ in range(64):
            with lock:
                v.value += 1
        if now() - t0 >= budget:
            break
    with lock:
        v1 = v.value
    dt = now() - t0
    stop.value = 1
    child.join()
    print("incr_per_s=%f" % ((v1 - v0) * 1e9 / dt))


# pipe: 8-byte round trips over Pipe() (send_bytes/recv_bytes), echoed.
def pipe_echo(c):
    while True:
        b = c.recv_bytes()
        if not b:
            return
        c.send_bytes(b)


def pipe(budget):
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    child = ctx.Process(target=pipe_echo, args=(b,))
    child.start()
    msg = b"12345678"
    for _ in range(100):
        a.send_bytes(msg)
        a.recv_bytes()
    lat = []
    t0 = t = now()
    while t - t0 < budget or not lat:
        a.send_bytes(msg)
        if a.recv_bytes() != msg:
            sys.exit("pipe: bad echo")
        t1 = now()
        lat.append(t1 - t)
        t = t1
    a.send_bytes(b"")
    child.join()
    print("p50_ns=%d p99_ns=%d n=%d" % (pct(lat, 50), pct(lat, 99), len(lat)))


# queue: the parent puts ints 0, 1, 2, ... into a Queue, a child gets and
# checks them. The producer holds back when it is 16384 items ahead
# (Queue's feeder thread buffers without bound).
def queue_get(q, got, t_end):
    i = 0
    while True:
        x = q.get()
        if x is None:
            break
        if x != i:
            sys.exit("queue: got %r, want %d" % (x, i))
        i += 1
        if i & 255 == 0:
            got.value = i
    got.value = i
    t_end.value = now()


def queue(budget):
    ctx = mp.get_context("fork")
    q, got, t_end = ctx.Queue(), ctx.RawValue("q", 0), ctx.RawValue("q", 0)
    child = ctx.Process(target=queue_get, args=(q, got, t_end))
    child.start()
    put = q.put
    i = 0
    t0 = now()
    while True:
        for _ in range(256):
            put(i)
            i += 1
        while i - got.value > 16384:
            time.sleep(0.0002)
        if now() - t0 >= budget:
            break
    put(None)
    child.join()
    if child.exitcode or got.value != i:
        sys.exit("queue: consumer got %d of %d" % (got.value, i))
    print("items_per_s=%f" % (i * 1e9 / (t_end.value - t0)))


# shm: a 4 KiB SharedMemory's life: create, attach by name, close both,
# unlink.
def shm(budget):
    from multiprocessing import shared_memory

    def cycle():
        s = shared_memory.SharedMemory(create=True, size=4096)
        a = shared_memory.SharedMemory(name=s.name)
        s.buf[0], a.buf[4095] = 1, 2  # both mappings work
        a.close()
        s.close()
        s.unlink()

    for _ in range(20):
        cycle()
    n, t0 = 0, now()
    while True:
        cycle()
        n += 1
        dt = now() - t0
        if dt >= budget:
            break
    print("ns_per_op=%f" % (dt / n))


def noop():
    pass


# spawn: Process(target=noop).start(); join() with the spawn method.
def spawn(budget):
    ctx = mp.get_context("spawn")
    p = ctx.Process(target=noop)
    p.start()
    p.join()
    lat = []
    t0 = now()
    while now() - t0 < budget or not lat:
        t = now()
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            sys.exit("spawn: child exit code %r" % p.exitcode)
        lat.append(now() - t)
    print("p50_ns=%d n=%d" % (pct(lat, 50), len(lat)))


def running(ev):
    ev.set()


# forkserver: how long after start() a child runs (it sets an Event),
# with the forkserver method and its server already started; joining is
# outside the time.
def forkserver(budget):
    ctx = mp.get_context("forkserver")
    ev = ctx.Event()
    lat = []
    first = True
    t0 = now()
    while first or now() - t0 < budget or not lat:
        ev.clear()
        t = now()
        p = ctx.Process(target=running, args=(ev,))
        p.start()
        ev.wait()
        d = now() - t
        p.join()
        if p.exitcode != 0:
            sys.exit("forkserver: child exit code %r" % p.exitcode)
        if first:  # the first start starts the server
            first = False
            t0 = now()
        else:
            lat.append(d)
    print("p50_ns=%d n=%d" % (pct(lat, 50), len(lat)))


def square(x):
    return x * x


# pool: Pool(2).map of x*x over 100,000 ints, default chunk size.
def pool(budget):
    xs = list(range(100000))
    with mp.get_context("fork").Pool(2) as p:
        p.map(square, xs)
        n, t0 = 0, now()
        while True:
            out = p.map(square, xs)
            n += 1
            dt = now() - t0
            if dt >= budget:
                break
        if out[-1] != xs[-1] ** 2:
            sys.exit("pool: wrong result")
    print("tasks_per_s=%f" % (n * len(xs) * 1e9 / dt))


if __name__ == "__main__":
    mode, budget_ns = sys.argv[1], int(sys.argv[2]) * 1_000_000
    globals()[mode](budget_ns)
`
