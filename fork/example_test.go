package fork_test

import (
	"context"
	"fmt"

	"github.com/shmkit/shmkit/fork"
)

// cube is registered at package level, so worker processes (this same
// binary, re-executed) find it by name. TestMain calls fork.Main first.
var cube = fork.Register("example.cube", func(ctx context.Context, x int) (int, error) {
	return x * x * x, nil
})

func ExampleStart() {
	ctx := context.Background()
	p, err := fork.Start(ctx, cube, 3, &fork.Options{Name: "cuber"})
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := cube.Result(ctx, p) // joins the process
	fmt.Println(p.Name(), v, err, p.ExitCode())
	// Output: cuber 27 <nil> 0
}

func ExampleNewPool() {
	ctx := context.Background()
	pool, err := fork.NewPool(2, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Join(ctx)
	defer pool.Close()
	cubes, err := fork.Map(ctx, pool, cube, []int{1, 2, 3, 4, 5})
	fmt.Println(cubes, err)
	// Output: [1 8 27 64 125] <nil>
}
