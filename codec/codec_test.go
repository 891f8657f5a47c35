package codec_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shmkit/shmkit/codec"
)

type point struct{ X, Y float64 }

type record struct {
	Name string
	Tags []string
	N    int
}

func roundTrip[T comparable](t *testing.T, c codec.Codec, v T, raw bool) {
	t.Helper()
	o := codec.For[T](c)
	if o.Raw() != raw {
		t.Fatalf("%T: Raw() = %v", v, o.Raw())
	}
	b, err := o.Append([]byte("prefix"), v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := o.Decode(b[len("prefix"):])
	if err != nil {
		t.Fatal(err)
	}
	if got != v {
		t.Fatalf("round trip: %v != %v", got, v)
	}
}

func TestRawAndCodec(t *testing.T) {
	roundTrip(t, nil, int64(-5), true)
	roundTrip(t, nil, point{1, 2}, true)
	roundTrip(t, nil, [3]uint8{1, 2, 3}, true)
	roundTrip(t, nil, "hello", false)
	roundTrip(t, codec.JSON, "hello", false)
	for _, c := range []codec.Codec{codec.Gob, codec.JSON} {
		o := codec.For[record](c)
		b, err := o.Append(nil, record{"a", []string{"x", "y"}, 3})
		if err != nil {
			t.Fatal(err)
		}
		r, err := o.Decode(b)
		if err != nil || r.Name != "a" || len(r.Tags) != 2 || r.N != 3 {
			t.Fatalf("%v %v", r, err)
		}
	}
	if o := codec.ForCodec[point](codec.JSON); o.Raw() || o.Size() != -1 {
		t.Fatal("ForCodec chose raw")
	}
	if n := codec.For[point](nil).Size(); n != 16 {
		t.Fatal(n)
	}
	if n := codec.For[string](nil).Size(); n != -1 {
		t.Fatal(n)
	}
}

func TestDecodeErrors(t *testing.T) {
	if _, err := codec.For[int64](nil).Decode([]byte{1, 2, 3}); !errors.Is(err, codec.ErrSize) {
		t.Fatalf("short raw data: %v", err)
	}
	if _, err := codec.For[string](nil).Decode([]byte("garbage")); err == nil {
		t.Fatal("gob accepted garbage")
	}
	if _, err := codec.For[string](codec.JSON).Decode([]byte("{")); err == nil {
		t.Fatal("json accepted garbage")
	}
	if _, err := codec.For[chan int](nil).Append(nil, make(chan int)); err == nil {
		t.Fatal("gob encoded a channel")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("\x0c\x00\x08hello"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = codec.For[record](nil).Decode(data)
		_, _ = codec.For[record](codec.JSON).Decode(data)
		_, _ = codec.For[point](nil).Decode(data)
	})
}

func ExampleFor() {
	type Point struct{ X, Y float64 }
	c := codec.For[Point](nil)
	b, _ := c.Append(nil, Point{1, 2})
	p, _ := c.Decode(b)
	fmt.Println(c.Raw(), len(b), p)

	s := codec.For[[]string](codec.JSON)
	b, _ = s.Append(nil, []string{"a", "b"})
	fmt.Println(s.Raw(), string(b))
	// Output:
	// true 16 {1 2}
	// false ["a","b"]
}
