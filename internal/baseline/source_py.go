package baseline

// PySource is the Python side of the baselines: CPython's multiprocessing
// doing what shmkit's benchmarks do, one script with a mode per
// measurement, run as
//
//	python3 SCRIPT MODE BUDGET_MS [LIMIT] [pin]
//
// with Python or RunPython. The spawn and forkserver modes need the script
// as a file (RunPython; they re-import the main module by path); the
// others run with python3 -c as well. Two-process modes use the fork
// context, Python's Linux default before 3.14. Nothing is pinned unless
// the last argument is "pin": then, in the modes with one forked child
// (all but shm, spawn, forkserver and pool), the parent runs on the first
// CPU the script may use and the child on the second (when there are
// two). Each mode runs its timed loop, in most after a warm-up, for
// BUDGET_MS milliseconds (at least once) unless it says otherwise, and
// prints its figures as key=value fields on one line. The modes, what each
// measures and what it prints:
//
//	event BUDGET_MS, semaphore BUDGET_MS
//	    Round trips between the parent and a forked child through two
//	    Events (set, wait, clear) or two Semaphores (release, acquire).
//	    Prints p50_ns, p99_ns and mean_ns of the round trip, and n.
//	value BUDGET_MS
//	    Two processes (the parent and a forked child) increment one
//	    Value("q") under its get_lock(), 64 at a time. Prints incr_per_s,
//	    both processes' increments per second of the parent's loop.
//	pipe BUDGET_MS [LIMIT]
//	    8-byte round trips over Pipe() (send_bytes, recv_bytes) with a
//	    forked child that echoes them, for the budget or LIMIT round trips
//	    (0 or absent: no limit), whichever comes first. Prints p50_ns and
//	    p99_ns of the round trip, and n.
//	queue BUDGET_MS
//	    The parent puts ints 0, 1, 2, ... into a Queue, a forked child gets
//	    and checks them; the parent puts for the budget and holds back when
//	    it is 16384 items ahead (Queue's feeder thread buffers without
//	    bound). Prints items_per_s, from the first put to the child's last
//	    get.
//	queue-drain BUDGET_MS [LIMIT], simplequeue-drain BUDGET_MS [LIMIT]
//	    The other way round, without holding back: a forked child puts
//	    ints 0, 1, 2, ... into a Queue (or a SimpleQueue) for the budget
//	    (0: no time limit) or LIMIT items (0 or absent: no limit),
//	    whichever comes first, then None; the parent gets and checks them.
//	    Meant for a LIMIT: a long budget fills Queue's buffer without
//	    bound. Prints items_per_s, from the first item the parent gets to
//	    None, and n, the items.
//	shm BUDGET_MS
//	    A 4 KiB shared_memory.SharedMemory's life: create, attach by name,
//	    close both, unlink. Prints ns_per_op.
//	spawn BUDGET_MS
//	    Process(target=noop).start() and join() with the spawn method.
//	    Prints p50_ns and n.
//	forkserver BUDGET_MS
//	    How long after start() a child runs (it sets an Event), with the
//	    forkserver method and its server already started; joining is
//	    outside the time. Prints p50_ns and n.
//	pool BUDGET_MS
//	    Pool(2).map of x*x over 100,000 ints, default chunk size, with the
//	    fork method. Prints tasks_per_s.
const PySource = `
import multiprocessing as mp
import os
import sys
import time

now = time.perf_counter_ns

# With "pin": the parent (party 0) on the first CPU this process may use,
# the child (party 1) on the second, when there are two.
cpus = []


def pin(party):
    if len(cpus) == 2:
        os.sched_setaffinity(0, {cpus[party]})


def pct(lat, p):
    lat.sort()
    return lat[min(len(lat) * p // 100, len(lat) - 1)]


# event, semaphore: round trips through two Events, or two Semaphores,
# with a child that answers.
def event_echo(ping, pong, stop):
    pin(1)
    while True:
        ping.wait()
        ping.clear()
        if stop.value:
            return
        pong.set()


def event(budget):
    ctx = mp.get_context("fork")
    ping, pong = ctx.Event(), ctx.Event()

    def rtt():
        ping.set()
        pong.wait()
        pong.clear()

    ping_pong(ctx, budget, event_echo, ping, pong, rtt, ping.set)


def semaphore_echo(ping, pong, stop):
    pin(1)
    while True:
        ping.acquire()
        if stop.value:
            return
        pong.release()


def semaphore(budget):
    ctx = mp.get_context("fork")
    ping, pong = ctx.Semaphore(0), ctx.Semaphore(0)

    def rtt():
        ping.release()
        pong.acquire()

    ping_pong(ctx, budget, semaphore_echo, ping, pong, rtt, ping.release)


# ping_pong times rtt with a child running echo(ping, pong, stop); wake
# makes the child see stop.
def ping_pong(ctx, budget, echo, ping, pong, rtt, wake):
    stop = ctx.RawValue("i", 0)
    child = ctx.Process(target=echo, args=(ping, pong, stop))
    child.start()
    pin(0)
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
    wake()
    child.join()
    mean = (t - t0) / len(lat)
    print("p50_ns=%d p99_ns=%d mean_ns=%.0f n=%d" % (pct(lat, 50), pct(lat, 99), mean, len(lat)))


# value: two processes increment one Value('q') under get_lock().
def value_incr(v, ready, stop):
    pin(1)
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
    pin(0)
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
    pin(1)
    while True:
        b = c.recv_bytes()
        if not b:
            return
        c.send_bytes(b)


def pipe(budget, limit=0):
    limit = limit or sys.maxsize
    ctx = mp.get_context("fork")
    a, b = ctx.Pipe()
    child = ctx.Process(target=pipe_echo, args=(b,))
    child.start()
    pin(0)
    msg = b"12345678"
    for _ in range(100):
        a.send_bytes(msg)
        a.recv_bytes()
    lat = []
    t0 = t = now()
    while t - t0 < budget and len(lat) < limit or not lat:
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
def queue(budget):
    ctx = mp.get_context("fork")
    q, got, t_end = ctx.Queue(), ctx.RawValue("q", 0), ctx.RawValue("q", 0)
    child = ctx.Process(target=queue_get, args=(q, got, t_end))
    child.start()
    pin(0)
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


def queue_get(q, got, t_end):
    pin(1)
    got.value = take(q, 0, got)
    t_end.value = now()


# take gets ints from q until None, checks that they count up from i, and
# returns the next one; got, if not None, follows every 256th.
def take(q, i, got):
    while True:
        x = q.get()
        if x is None:
            return i
        if x != i:
            sys.exit("queue: got %r, want %d" % (x, i))
        i += 1
        if i & 255 == 0 and got is not None:
            got.value = i


# queue-drain, simplequeue-drain: a child puts ints 0, 1, 2, ... into a
# Queue or a SimpleQueue without holding back, then None; the parent gets
# and checks them, timed from the first item to None.
def queue_drain(budget, limit=0):
    ctx = mp.get_context("fork")
    drain(ctx, ctx.Queue(), budget, limit)


def simplequeue_drain(budget, limit=0):
    ctx = mp.get_context("fork")
    drain(ctx, ctx.SimpleQueue(), budget, limit)


def drain(ctx, q, budget, limit):
    child = ctx.Process(target=drain_put, args=(q, budget, limit or sys.maxsize))
    child.start()
    pin(0)
    if q.get() != 0:
        sys.exit("queue: bad first item")
    t0 = now()
    n = take(q, 1, None)
    dt = now() - t0
    child.join()
    if child.exitcode:
        sys.exit("queue: producer failed")
    print("items_per_s=%f n=%d" % ((n - 1) * 1e9 / dt, n))


def drain_put(q, budget, limit):
    pin(1)
    put = q.put
    i = 0
    t0 = now()
    while i < limit and not (budget and now() - t0 >= budget):
        for _ in range(min(256, limit - i)):
            put(i)
            i += 1
    put(None)


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
    args = sys.argv[1:]
    if len(args) > 2 and args[-1] == "pin":
        args.pop()
        cpus[:] = sorted(os.sched_getaffinity(0))[:2]
    mode, budget_ns = args[0], int(args[1]) * 1_000_000
    globals()[mode.replace("-", "_")](budget_ns, *map(int, args[2:]))
`
