// Command shmkit shows, measures and administers shmkit shared memory.
//
//	shmkit demo      Python multiprocessing's classic scenarios across processes, with timings
//	shmkit bench     the cross-process benchmark suite against baselines
//	shmkit ls        list shared-memory segments
//	shmkit stat      describe segments and the processes using them
//	shmkit rm        remove segments
//	shmkit gc        remove segments whose creator is gone and that nobody uses
//	shmkit help      this list
//
// Each subcommand takes --help.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/shmkit/shmkit/fork"
)

// command is one subcommand.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{
	"demo":  {"run processes that share a segment and a lock, and show what they did", runDemo},
	"bench": {"run the cross-process benchmark suite: shmkit vs pipes, sockets, channels, C and Python", runBench},
	"ls":    {"list shared-memory segments", runLs},
	"stat":  {"describe segments in detail", runStat},
	"rm":    {"remove segments", runRm},
	"gc":    {"remove segments whose creator is gone and that nobody uses", runGc},
}

// errUsage marks an error already explained by a usage message.
var errUsage = errors.New("usage")

func main() {
	fork.Main() // in a worker process: runs its task and exits
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "shmkit: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if err := cmd.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "shmkit %s: %v\n", args[0], err)
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "shmkit: shared-memory IPC for Go — demo, benchmarks and segment admin")
	fmt.Fprintln(w, "\nUsage: shmkit <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'shmkit <command> --help' for a command's flags.")
}

// newFlags makes a subcommand's flag set that reports errors instead of
// exiting.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("shmkit "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: shmkit %s\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		fs.Usage()
		return errUsage
	}
	return nil
}
