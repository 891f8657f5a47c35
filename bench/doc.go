// Package bench is shmkit's comparison suite: each case measures one
// shmkit operation across two real processes, touching every payload
// byte, next to baselines measured in the same run — a pipe, a unix
// socket, a Go channel, sync.Mutex, glibc (C compiled with gcc) and
// Python's multiprocessing (python3, run as a subprocess) — and reports
// the ratios (DESIGN.md, principle 8).
//
// # Basics
//
// The command `shmkit bench` runs the suite and prints a table, JSON or a
// chart; `go test -bench . ./bench/` runs the same cases as Go benchmarks
// whose output benchstat reads. In a program of your own:
//
//	func main() {
//		fork.Main() // first: peers are this binary, re-executed
//		for _, c := range bench.Cases() {
//			r, err := c.Run(ctx, &bench.Options{Quick: true})
//			...
//		}
//	}
//
// A case's peer process is started with package fork (Spawn) and runs a
// task this package registers at package level, so any binary that imports
// bench and calls fork.Main first can run the suite. Baselines that need a
// plain process holding a pipe or a socket re-execute the binary with a
// role in its environment (SHMKIT_BENCH_EXEC_ROLE), which this package's
// init runs before main.
//
// # Measuring
//
// Every measurement — shmkit's and each baseline's — runs for
// Options.Budget (one second; 200 ms with Quick). Rates and per-operation
// times are the median of Options.Reps parts of the budget; latencies are
// percentiles of every round trip. Ratios say how many times better
// shmkit's figure is (above 1 shmkit wins), so a reader compares like
// with like on one machine at one time. Nothing is pinned to a CPU, on
// either side.
//
// # Caveats
//
//   - C baselines run when gcc is installed, Python ones when python3 is;
//     otherwise the Result lists them as skipped.
//   - The machine's noise moves every figure; compare the ratios of one run,
//     and read go test's output over several counts with benchstat.
//   - The ForkServer case ends with fork.Shutdown, which stops the
//     ForkServer's idle workers and waits for the caller's other children.
package bench
