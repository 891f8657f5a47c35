package rawarray_test

import (
	"errors"
	"fmt"

	"github.com/shmkit/shmkit/rawarray"
)

func ExampleNewShareableList() {
	// Python's ShareableList(["alpha", 1, 2.5, True, None, b"xy"]), with
	// a random name ("psm_…") as Python picks one.
	l, err := rawarray.NewShareableList("", []any{"alpha", 1, 2.5, true, nil, []byte("xy")})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	defer l.Unlink()

	// Another process opens it by name: OpenShareableList(l.Name()) in
	// Go, ShareableList(name=...) in Python. Here, a second handle.
	peer, err := rawarray.OpenShareableList(l.Name())
	if err != nil {
		panic(err)
	}
	defer peer.Close()

	if err := peer.Set(1, int64(42)); err != nil {
		panic(err)
	}
	// Any type that fits the item's slot, here None's 8 bytes.
	if err := peer.Set(-2, "was None"); err != nil {
		panic(err)
	}
	err = peer.Set(0, "longer than the slot")
	fmt.Println(errors.Is(err, rawarray.ErrTooLarge))

	for i := range l.Len() {
		v, _ := l.Get(i)
		fmt.Printf("%T %v\n", v, v)
	}
	fmt.Println(l.Format())
	// Output:
	// true
	// string alpha
	// int64 42
	// float64 2.5
	// bool true
	// string was None
	// []uint8 [120 121]
	// 8sqdxxxxxxx?8s8s
}
