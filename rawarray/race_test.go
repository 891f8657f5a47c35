package rawarray_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The protocols of the cross-process tests, run by goroutines on memory
// the race detector sees (the Go heap) and on a segment it does not see,
// where only the annotations of locks and of Load/Store tell it about the
// synchronization. Run with -race.

const raceGoroutines, raceIters = 4, 2000

// incrementAll has raceGoroutines goroutines increment v under its lock,
// and a plain Go variable with it; it returns the plain variable.
func incrementAll(v *rawarray.Value[int64]) int {
	plain := 0 // guarded only by v's lock
	var wg sync.WaitGroup
	for range raceGoroutines {
		wg.Go(func() {
			for range raceIters {
				v.Lock()
				v.Store(v.Load() + 1)
				plain++
				v.Unlock()
			}
		})
	}
	wg.Wait()
	return plain
}

func TestValueRaceHeap(t *testing.T) {
	v, err := rawarray.PlaceValue(newHeap(rawarray.ValueSize), 0, int64(0))
	require.NoError(t, err)
	plain := incrementAll(v)
	assert.Equal(t, raceGoroutines*raceIters, plain)
	assert.Equal(t, int64(raceGoroutines*raceIters), v.Load())
}

func TestValueRaceSegment(t *testing.T) {
	v, err := rawarray.NewValue[int64](0)
	require.NoError(t, err)
	defer v.Close()
	plain := incrementAll(v)
	assert.Equal(t, raceGoroutines*raceIters, plain)
	assert.Equal(t, int64(raceGoroutines*raceIters), v.Load())
}

// TestArraySliceRace: goroutines update every element through Slice under
// the lock; plain accesses, ordered by the lock.
func TestArraySliceRace(t *testing.T) {
	for _, where := range []string{"heap", "segment"} {
		t.Run(where, func(t *testing.T) {
			const n = 64
			var a *rawarray.Array[int32]
			var err error
			if where == "heap" {
				a, err = rawarray.PlaceArray[int32](newHeap(rawarray.ArraySize[int32](n)), 0, n)
			} else {
				a, err = rawarray.NewArray[int32](n)
			}
			require.NoError(t, err)
			defer a.Close()
			var wg sync.WaitGroup
			for range raceGoroutines {
				wg.Go(func() {
					for range raceIters / 10 {
						a.Lock()
						for i, x := range a.Slice() {
							a.Slice()[i] = x + 1
						}
						a.Unlock()
					}
				})
			}
			wg.Wait()
			for i := range n {
				require.Equal(t, int32(raceGoroutines*raceIters/10), a.At(i))
			}
		})
	}
}

// TestRawValueHandOff: a writer fills a plain buffer and then stores a
// RawValue flag; the reader polls the flag and then reads the buffer. The
// atomic Store and Load order the plain accesses, on the heap and in a
// segment.
func TestRawValueHandOff(t *testing.T) {
	seg, err := shm.Anonymous(4096)
	require.NoError(t, err)
	defer seg.Close()
	for _, mem := range []rawarray.Memory{newHeap(64), seg} {
		flag, err := rawarray.PlaceRawValue(mem, 0, uint8(0))
		require.NoError(t, err)
		var data [16]int
		done := make(chan struct{})
		go func() {
			defer close(done)
			for flag.Load() != 1 {
			}
			for i := range data {
				assert.Equal(t, i*i, data[i])
			}
		}()
		for i := range data {
			data[i] = i * i
		}
		flag.Store(1)
		<-done
	}
}

// TestPublishRace: one goroutine places objects while others attach them
// as soon as the header is there; the magic, written last and atomically,
// publishes the rest.
func TestPublishRace(t *testing.T) {
	mem := newHeap(4096)
	const objs = 16
	size := rawarray.RawArraySize[int64](8)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for k := range objs {
				for {
					a, err := rawarray.AttachRawArray[int64](mem, k*size)
					if errors.Is(err, rawarray.ErrBadMagic) {
						continue
					}
					if assert.NoError(t, err) {
						assert.Equal(t, 8, a.Len())
					}
					break
				}
			}
		})
	}
	for k := range objs {
		_, err := rawarray.PlaceRawArray[int64](mem, k*size, 8)
		require.NoError(t, err)
	}
	wg.Wait()
}
