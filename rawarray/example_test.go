package rawarray_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/shmkit/shmkit/rawarray"
	"github.com/shmkit/shmkit/shm"
)

func ExampleNewValue() {
	v, err := rawarray.NewValue[int64](0)
	if err != nil {
		panic(err)
	}
	defer v.Close()

	// Goroutines here, processes that opened v's Ref alike: the lock makes
	// each increment atomic.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				v.Lock()
				v.Store(v.Load() + 1)
				v.Unlock()
			}
		})
	}
	wg.Wait()
	fmt.Println(v.Load())
	// Output: 4000
}

func ExampleNewRawValue() {
	ready, err := rawarray.NewRawValue(false)
	if err != nil {
		panic(err)
	}
	defer ready.Close()

	results := make([]int, 3) // ordered by the flag's Store and Load
	go func() {
		for i := range results {
			results[i] = i * 10
		}
		ready.Store(true)
	}()
	for !ready.Load() {
	}
	fmt.Println(results)
	// Output: [0 10 20]
}

func ExampleNewArray() {
	a, err := rawarray.NewArray[float64](4)
	if err != nil {
		panic(err)
	}
	defer a.Close()

	for i := range a.Len() {
		a.Set(i, float64(i)*1.5) // one atomic element at a time
	}
	a.Lock() // bulk work through Slice, under the lock
	sum := 0.0
	for _, x := range a.Slice() {
		sum += x
	}
	a.Unlock()
	fmt.Println(a.Len(), a.At(3), sum)
	// Output: 4 4.5 9
}

func ExampleNewRawArray() {
	a, err := rawarray.NewRawArray[uint16](5)
	if err != nil {
		panic(err)
	}
	defer a.Close()

	s := a.Slice() // the shared memory itself: no copy
	for i := range s {
		s[i] = uint16(1 << i)
	}
	a.Set(0, 100)
	fmt.Println(a.At(4), s[0], a.Slice())
	// Output: 16 100 [100 2 4 8 16]
}

func ExampleNewArrayCode() {
	// Python: multiprocessing.Array('l', 3). On 64-bit Linux a C long is
	// an int64, so the elements are int64 and the header records "l".
	a, err := rawarray.NewArrayCode[int64]("l", 3)
	if err != nil {
		panic(err)
	}
	defer a.Close()
	ref, _ := a.Ref()
	fmt.Println(ref.Kind, ref.Code, ref.ElemSize, ref.Len)

	_, err = rawarray.NewValueCode[int32]("d", 0) // a double is not an int32
	fmt.Println(errors.Is(err, rawarray.ErrType))
	// Output:
	// Array l 8 3
	// true
}

func ExampleCheckCode() {
	for _, code := range []string{"q", "l", "i", "d"} {
		t, err := rawarray.CheckCode[int64](code)
		if err != nil {
			fmt.Println(code, "does not fit int64")
			continue
		}
		fmt.Println(code, "is C", t.CName)
	}
	// Output:
	// q is C long long
	// l is C long
	// i does not fit int64
	// d does not fit int64
}

// A Ref travels to another process as JSON; OpenValue there maps the
// segment and finds the Value. Here the "other process" is this one.
func ExampleOpenValue() {
	name := fmt.Sprintf("rawarray-example-%d", os.Getpid())
	v, err := rawarray.NewValueOptions(int32(7), &rawarray.Options{Name: name})
	if err != nil {
		panic(err)
	}
	defer v.Close()
	defer v.Unlink() // a named segment outlives the processes unless unlinked

	ref, _ := v.Ref()
	msg, _ := json.Marshal(ref) // the message to send

	// In the other process:
	var got rawarray.Ref
	if err := json.Unmarshal(msg, &got); err != nil {
		panic(err)
	}
	peer, err := rawarray.OpenValue[int32](got)
	if err != nil {
		panic(err)
	}
	defer peer.Close()
	peer.Lock()
	peer.Store(peer.Load() * 6)
	peer.Unlock()

	fmt.Println(got.Kind, got.Code, got.Offset, got.Name == name, v.Load())
	_, err = rawarray.OpenArray[int32](got)
	fmt.Println(errors.Is(err, rawarray.ErrKind))
	// Output:
	// Value i 0 true 42
	// true
}

// An anonymous segment has no name: the other process inherits a
// descriptor (File) and puts its number in the Ref.
func ExampleValue_File() {
	v, err := rawarray.NewValue(uint64(1))
	if err != nil {
		panic(err)
	}
	defer v.Close()
	f, err := v.File() // pass as exec.Cmd.ExtraFiles[0]: descriptor 3 there
	if err != nil {
		panic(err)
	}
	defer f.Close()
	ref, _ := v.Ref()
	fmt.Println(ref.Name == "", ref.Fd)

	ref.Fd = int(f.Fd()) // in the child: ref.Fd = 3
	peer, err := rawarray.OpenValue[uint64](ref)
	if err != nil {
		panic(err)
	}
	defer peer.Close()
	peer.Store(99)
	fmt.Println(v.Load())
	// Output:
	// true -1
	// 99
}

// Several objects in one segment of the caller's: each at an offset that
// the previous ones' sizes give, a multiple of Align.
func ExamplePlaceValue() {
	offCount := 0
	offTemps := offCount + rawarray.ValueSize
	offFlags := offTemps + rawarray.ArraySize[float32](3)
	size := offFlags + rawarray.RawArraySize[bool](2)

	seg, err := shm.Anonymous(int64(size))
	if err != nil {
		panic(err)
	}
	defer seg.Close() // after the objects: they do not own it

	count, err := rawarray.PlaceValue(seg, offCount, int64(0))
	if err != nil {
		panic(err)
	}
	temps, err := rawarray.PlaceArray[float32](seg, offTemps, 3)
	if err != nil {
		panic(err)
	}
	flags, err := rawarray.PlaceRawArray[bool](seg, offFlags, 2)
	if err != nil {
		panic(err)
	}
	count.Store(3)
	temps.Set(1, 21.5)
	flags.Set(1, true)

	for _, off := range []int{offCount, offTemps, offFlags} {
		info, _ := rawarray.Inspect(seg, off)
		fmt.Printf("%3d: %-8s %q len %d, data at +%d, %d bytes\n", off, info.Kind, info.Code, info.Len, info.DataOffset, info.Size)
	}

	// Another process attaches by (segment, offset); the header is checked.
	again, _ := rawarray.AttachArray[float32](seg, offTemps)
	fmt.Println(again.At(1))
	_, err = rawarray.AttachArray[float64](seg, offTemps)
	fmt.Println(errors.Is(err, rawarray.ErrType))
	_, err = rawarray.AttachValue[int64](seg, offCount+8)
	fmt.Println(errors.Is(err, rawarray.ErrBadMagic))
	// Output:
	//   0: Value    "q" len 1, data at +56, 64 bytes
	//  64: Array    "f" len 3, data at +56, 72 bytes
	// 136: RawArray "?" len 2, data at +32, 40 bytes
	// 21.5
	// true
	// true
}

func ExampleRef_MarshalBinary() {
	ref := rawarray.Ref{Kind: rawarray.KindRawArray, Code: "d", ElemSize: 8, Len: 1000, Offset: 4096, Name: "samples", Fd: -1}
	b, _ := ref.MarshalBinary()
	var back rawarray.Ref
	if err := back.UnmarshalBinary(b); err != nil {
		panic(err)
	}
	fmt.Println(len(b), back)
	// Output: 33 RawArray<d>[1000] at 4096 in segment "samples"
}
