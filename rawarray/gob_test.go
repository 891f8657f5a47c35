package rawarray_test

import (
	"bytes"
	"encoding/gob"
	"testing"

	"github.com/shmkit/shmkit/rawarray"
)

// TestGobRoundTrip: a value or array encoded with gob decodes, in this
// process, into an object on the same memory (package fork relies on it
// across processes; see fork's TestSharedValueFourProcesses).
func TestGobRoundTrip(t *testing.T) {
	v, err := rawarray.NewValue[int64](5)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	a, err := rawarray.NewRawArray[float64](3)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(struct {
		V *rawarray.Value[int64]
		A *rawarray.RawArray[float64]
	}{v, a}); err != nil {
		t.Fatal(err)
	}
	var back struct {
		V *rawarray.Value[int64]
		A *rawarray.RawArray[float64]
	}
	if err := gob.NewDecoder(&b).Decode(&back); err != nil {
		t.Fatal(err)
	}
	defer back.V.Close()
	defer back.A.Close()
	back.V.Store(6)
	back.A.Set(2, 1.5)
	if v.Load() != 6 || a.At(2) != 1.5 || back.A.Len() != 3 {
		t.Fatalf("decoded objects do not share memory: %d %v", v.Load(), a.At(2))
	}
	if err := gob.NewDecoder(bytes.NewReader([]byte("junk"))).Decode(&back); err == nil {
		t.Fatal("decoded junk")
	}
}
