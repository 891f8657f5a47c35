package shm_test

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/exec"

	"github.com/shmkit/shmkit/shm"
)

// One process creates a named segment and writes to it; another (here the
// same one, for brevity) opens it by name and sees the bytes. Python's
// SharedMemory(name=...) and C's shm_open see the same segment.
func ExampleCreate() {
	name := fmt.Sprintf("shmkit-example-%d", os.Getpid())

	seg, err := shm.Create(name, 4096, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	copy(seg.Bytes(), "hello, segment")

	peer, err := shm.Open(name, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%d bytes)\n", peer.Bytes()[:14], peer.Size())
	if err := peer.Close(); err != nil {
		log.Fatal(err)
	}

	// Unlink removes the name; mappings stay valid until closed.
	if err := shm.Unlink(name); err != nil {
		log.Fatal(err)
	}
	_, err = shm.Open(name, nil)
	fmt.Println("open after unlink:", errors.Is(err, fs.ErrNotExist))
	// Output:
	// hello, segment (4096 bytes)
	// open after unlink: true
}

// An anonymous segment has no name: a child process gets it as an
// inherited descriptor. A Go child maps it with shm.FromFd(3, nil); any
// program can read it, here head(1) through /dev/fd/3.
func ExampleAnonymous() {
	seg, err := shm.Anonymous(1 << 20)
	if err != nil {
		log.Fatal(err)
	}
	defer seg.Close()
	copy(seg.Bytes(), "hello, child")

	f, err := seg.Dup()
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command("head", "-c", "12", "/dev/fd/3")
	cmd.ExtraFiles = []*os.File{f} // the child's descriptor 3
	out, err := cmd.Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("child read %q\n", out)
	// Output:
	// child read "hello, child"
}
