package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shmkit/shmkit/bench"
)

// cheapCase is the case the command's tests run: one process, a few
// hundred milliseconds with --quick.
const cheapCase = "^locks/Mutex uncontended$"

func TestBenchJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"bench", "--quick", "--run", cheapCase, "--json"}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", rc, out.String(), errb.String())
	}
	if errb.Len() != 0 { // no progress display when stderr is not a terminal
		t.Errorf("stderr: %q", errb.String())
	}
	var rep benchReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(rep.Results) != 1 || len(rep.Errors) != 0 || !rep.Quick || rep.Budget != "200ms" {
		t.Fatalf("report: %+v", rep)
	}
	r := rep.Results[0]
	if r.Name != "locks/Mutex uncontended" || r.Unit != "ns/op" || !r.LowerIsBetter || !(r.Value > 0) || r.Target == nil {
		t.Fatalf("result: %+v", r)
	}
	names := map[string]bool{}
	for _, b := range r.Baselines {
		names[b.Name] = true
		if b.Error != "" || (b.Skipped == "" && !(b.Ratio > 0)) {
			t.Errorf("baseline %+v", b)
		}
	}
	if !names["sync.Mutex"] || !names["C pthread robust"] {
		t.Errorf("baselines: %+v", r.Baselines)
	}
}

func TestBenchTableAndCharts(t *testing.T) {
	dir := t.TempDir()
	svg, page := filepath.Join(dir, "bench.svg"), filepath.Join(dir, "bench.html")
	var out, errb bytes.Buffer
	if rc := run([]string{"bench", "--quick", "--run", cheapCase, "--svg", svg, "--html", page}, &out, &errb); rc != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", rc, out.String(), errb.String())
	}
	for _, want := range []string{"CASE", "locks/Mutex uncontended", "sync.Mutex", "ns/op", "x ", "≤ 100 ns/op"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	checkSVG(t, b, "locks/Mutex uncontended", "vs sync.Mutex")
	h, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", "<table>", "<svg", "sync.Mutex"} {
		if !bytes.Contains(h, []byte(want)) {
			t.Errorf("HTML page lacks %q", want)
		}
	}
}

// checkSVG parses an SVG document whole and checks its root and texts.
func checkSVG(t *testing.T, b []byte, texts ...string) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	var root string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, b)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
				if tok.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("root namespace %q", tok.Name.Space)
				}
			}
		case xml.CharData:
			text.Write(tok)
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
	for _, want := range texts {
		if !strings.Contains(text.String(), want) {
			t.Errorf("SVG text lacks %q", want)
		}
	}
}

// TestChartShapes draws a report of every shape a result can take —
// faster, slower, skipped and failed baselines, a failed case, names that
// need escaping — without running anything.
func TestChartShapes(t *testing.T) {
	rep := &benchReport{Budget: "1s", Results: []bench.Result{
		{Name: "a<b>&c", Unit: "p50-ns", Value: 1500, LowerIsBetter: true, Baselines: []bench.Baseline{
			{Name: "fast", Value: 150000, Ratio: 100},
			{Name: "slow", Value: 15, Ratio: 0.01},
			{Name: "py", Skipped: "python3 not found"},
			{Name: "c", Error: `exit status 1: "oops" <bad>`},
		}, Metrics: []bench.Metric{{Name: "p99", Unit: "ns", Value: 2e6}}, Target: &bench.Target{Value: 2000, Met: true}},
		{Name: "none", Unit: "GB/s", Value: 1, Notes: []string{"a note"}},
	}, Errors: []caseError{{Name: "broken", Error: "peer died & more"}}}
	checkSVG(t, svgChart(rep), "a<b>&c", "vs fast", "100x faster", "100x slower", "skipped: python3 not found", "failed: peer died & more", "1.50 p50-µs vs 150 p50-µs")
	var out bytes.Buffer
	if err := writeTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"1.50 p50-µs (p99 2.00 ms)", "100x faster", "100x slower", "skipped: python3", "≤ 2.00 p50-µs: met", "broken", "none: a note"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	if h := htmlPage(rep); !bytes.Contains(h, []byte("a&lt;b&gt;&amp;c")) {
		t.Errorf("HTML page does not escape names:\n%s", h)
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rc   int
		want string
	}{
		{[]string{"bench", "--help"}, 0, "Usage: shmkit bench"},
		{[]string{"bench", "--run", "("}, 1, "--run"},
		{[]string{"bench", "--run", "no such case"}, 1, "matches no case"},
		{[]string{"bench", "--budget", "-1s"}, 1, "must not be negative"},
		{[]string{"bench", "extra"}, 1, "unexpected arguments"},
		{[]string{"bench", "--list"}, 0, "ring/SPSC 8B"},
		{[]string{"help"}, 0, "bench"},
	} {
		var out, errb bytes.Buffer
		rc := run(tc.args, &out, &errb)
		if rc != tc.rc || !strings.Contains(out.String()+errb.String(), tc.want) {
			t.Errorf("shmkit %v: exit %d, output %q; want exit %d and %q", tc.args, rc, out.String()+errb.String(), tc.rc, tc.want)
		}
	}
}
