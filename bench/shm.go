package bench

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/shmkit/shmkit/shm"
)

// segmentSeq numbers the segments the shm case names.
var segmentSeq atomic.Uint64

var shmCreateAttach = Case{
	Name: "shm/create+attach+unlink 4KiB",
	About: "a named 4 KiB segment's life: shm.Create, shm.Open (a second mapping, as another process attaches), " +
		"a byte written through each, Close both, Unlink; vs Python's multiprocessing.shared_memory.SharedMemory doing the same",
	Unit:          "us/op",
	LowerIsBetter: true,
	run: func(ctx context.Context, o *Options, r *Result) error {
		name := fmt.Sprintf("shmkit-bench-%d-%d", os.Getpid(), segmentSeq.Add(1))
		defer shm.Unlink(name) // after a failure midway
		cycle := func() error {
			seg, err := shm.Create(name, 4096, nil)
			if err != nil {
				return err
			}
			peer, err := shm.Open(name, nil)
			if err != nil {
				seg.Close()
				return err
			}
			seg.Bytes()[0], peer.Bytes()[4095] = 1, 2 // both mappings work
			if err := peer.Close(); err != nil {
				return err
			}
			if err := seg.Close(); err != nil {
				return err
			}
			return shm.Unlink(name)
		}
		for range 20 { // warm up
			if err := cycle(); err != nil {
				return err
			}
		}
		var err error
		r.Value, err = o.median(func(loop loopFunc) (float64, error) {
			n, d, err := loop(cycle)
			return nsPer(n, d) / 1e3, err
		})
		if err != nil {
			return err
		}
		v, err := o.pyFigure(ctx, "ns_per_op", 1e-3, "shm")
		r.add("Python SharedMemory", v, err)
		return nil
	},
}
