package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/shmkit/shmkit/bench"
	"golang.org/x/sys/unix"
)

// shmkit bench: the comparison suite of package bench, as a table, JSON,
// or a chart.

// benchReport is the outcome of a run; --json prints it.
type benchReport struct {
	Started time.Time      `json:"started"`
	Go      string         `json:"go"`
	OS      string         `json:"os"`
	Arch    string         `json:"arch"`
	CPUs    int            `json:"cpus"`
	Quick   bool           `json:"quick"`
	Budget  string         `json:"budget"` // per measurement
	Results []bench.Result `json:"results"`
	Errors  []caseError    `json:"errors,omitempty"`
}

type caseError struct {
	Name  string `json:"name"`
	Error string `json:"error"`
}

func runBench(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "Run shmkit's cross-process benchmark suite: each case measures one shmkit\n"+
		"operation across two processes next to baselines measured in the same run\n"+
		"(pipe, unix socket, Go channel, sync.Mutex, glibc via gcc, Python's\n"+
		"multiprocessing via python3 when installed) and prints how many times\n"+
		"faster or slower shmkit is. A full run takes under a minute; --quick\n"+
		"about fifteen seconds.", stderr)
	quick := fs.Bool("quick", false, "a short run: 200ms per measurement instead of 1s")
	budget := fs.Duration("budget", 0, "time per measurement (overrides --quick)")
	pattern := fs.String("run", "", "run only the cases whose names match this `regexp`")
	list := fs.Bool("list", false, "list the cases and exit")
	asJSON := fs.Bool("json", false, "print the results as JSON instead of a table")
	svgFile := fs.String("svg", "", "also write a bar chart of the ratios to this SVG `file`")
	htmlFile := fs.String("html", "", "also write an HTML page with the table and the chart to this `file`")
	noPython := fs.Bool("no-python", false, "leave out the Python baselines")
	noC := fs.Bool("no-c", false, "leave out the C baselines")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *budget < 0 {
		return fmt.Errorf("--budget %v: must not be negative", *budget)
	}
	cases, err := bench.Select(*pattern)
	if err != nil {
		return fmt.Errorf("--run: %w", err)
	}
	if len(cases) == 0 {
		return fmt.Errorf("--run %q matches no case (see --list)", *pattern)
	}
	if *list {
		for _, c := range cases {
			fmt.Fprintf(stdout, "%s (%s)\n", c.Name, c.Unit)
			for _, l := range wrap(c.About, 72) {
				fmt.Fprintf(stdout, "    %s\n", l)
			}
		}
		return nil
	}
	opts := &bench.Options{Quick: *quick, Budget: *budget, NoPython: *noPython, NoC: *noC}
	rep := &benchReport{
		Started: time.Now().UTC().Truncate(time.Second),
		Go:      runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(),
		Quick: *quick, Budget: opts.PerMeasurement().String(),
		Results: []bench.Result{},
	}
	prog := newProgress(stderr, len(cases))
	ctx := context.Background()
	for i, c := range cases {
		prog.start(i, c.Name)
		r, err := c.Run(ctx, opts)
		prog.done()
		if err != nil {
			fmt.Fprintf(stderr, "shmkit bench: %v\n", err)
			rep.Errors = append(rep.Errors, caseError{Name: c.Name, Error: err.Error()})
			continue
		}
		rep.Results = append(rep.Results, r)
	}
	prog.stop()

	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := writeTable(stdout, rep); err != nil {
		return err
	}
	if *svgFile != "" {
		if err := os.WriteFile(*svgFile, svgChart(rep), 0o644); err != nil {
			return err
		}
	}
	if *htmlFile != "" {
		if err := os.WriteFile(*htmlFile, htmlPage(rep), 0o644); err != nil {
			return err
		}
	}
	if len(rep.Errors) > 0 {
		return fmt.Errorf("%d of %d cases failed", len(rep.Errors), len(cases))
	}
	return nil
}

// wrap breaks text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// progress shows "[3/13] ring/SPSC 8B  1.2s" on a terminal, rewritten in
// place while a case runs; elsewhere it writes nothing.
type progress struct {
	w     io.Writer // nil: not a terminal
	total int

	mu    sync.Mutex
	line  string
	since time.Time
	quit  chan struct{}
	wg    sync.WaitGroup
}

func newProgress(w io.Writer, total int) *progress {
	p := &progress{total: total}
	if f, ok := w.(*os.File); ok && isTerminal(f) {
		p.w = w
		p.quit = make(chan struct{})
		p.wg.Go(p.tick)
	}
	return p
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

func (p *progress) tick() {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.quit:
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.line != "" {
		fmt.Fprintf(p.w, "\r\033[K%s  %.1fs", p.line, time.Since(p.since).Seconds())
	}
}

func (p *progress) start(i int, name string) {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	p.line, p.since = fmt.Sprintf("[%d/%d] %s ...", i+1, p.total, name), time.Now()
	p.mu.Unlock()
	p.draw()
}

// done clears the line, so that an error message starts on a clean one.
func (p *progress) done() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line = ""
	fmt.Fprint(p.w, "\r\033[K")
}

func (p *progress) stop() {
	if p.w == nil {
		return
	}
	close(p.quit)
	p.wg.Wait()
}

// ratioText says how shmkit compares: "3.10x faster", "2.00x slower".
func ratioText(ratio float64) string {
	switch {
	case ratio <= 0:
		return ""
	case ratio >= 1:
		return fmt.Sprintf("%sx faster", bench.FormatValue(ratio))
	}
	return fmt.Sprintf("%sx slower", bench.FormatValue(1/ratio))
}

// valueText is a figure with its unit and secondary metrics.
func valueText(r bench.Result) string {
	s := bench.FormatFigure(r.Value, r.Unit)
	for _, m := range r.Metrics {
		s += fmt.Sprintf(" (%s %s)", m.Name, bench.FormatFigure(m.Value, m.Unit))
	}
	return s
}

func baselineText(r bench.Result, b bench.Baseline) (figure, ratio string) {
	switch {
	case b.Error != "":
		return "error: " + b.Error, ""
	case b.Skipped != "":
		return "skipped: " + b.Skipped, ""
	}
	return bench.FormatFigure(b.Value, r.Unit), ratioText(b.Ratio)
}

func targetText(r bench.Result) string {
	if r.Target == nil {
		return ""
	}
	if r.Target.Met {
		return r.TargetText() + ": met"
	}
	return r.TargetText() + ": MISSED"
}

func header(rep *benchReport) string {
	return fmt.Sprintf("shmkit bench: %d cases, %s per measurement, %s %s/%s, %d CPUs, %s",
		len(rep.Results)+len(rep.Errors), rep.Budget, rep.Go, rep.OS, rep.Arch, rep.CPUs, rep.Started.Format("2006-01-02 15:04 UTC"))
}

func writeTable(w io.Writer, rep *benchReport) error {
	fmt.Fprintln(w, header(rep))
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tSHMKIT\tBASELINE\tBASELINE FIGURE\tSHMKIT IS\tTARGET")
	for _, r := range rep.Results {
		name, value, target := r.Name, valueText(r), targetText(r)
		if len(r.Baselines) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t%s\n", name, value, target)
		}
		for _, b := range r.Baselines {
			fig, ratio := baselineText(r, b)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, value, b.Name, fig, ratio, target)
			name, value, target = "", "", ""
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(tw, "%s\tfailed: %s\t\t\t\t\n", e.Name, e.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if notes := allNotes(rep); len(notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
	}
	fmt.Fprintln(w, "\nEach baseline is measured in the same run and the same unit; \"faster\" means a better")
	fmt.Fprintln(w, "figure (a higher rate or a shorter time). 'shmkit bench --list' says what each case measures.")
	return nil
}

// allNotes lists the results' notes, each after its case's name.
func allNotes(rep *benchReport) []string {
	var notes []string
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			notes = append(notes, r.Name+": "+n)
		}
	}
	return notes
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// Chart geometry, in SVG user units (pixels).
const (
	chartWidth  = 1300
	chartLabelX = 16  // case and baseline names
	chartLeft   = 330 // the plot area
	chartRight  = 770
	chartTextX  = 785 // the figures, right of the plot
	chartTop    = 96
	rowHeight   = 20
	groupHeight = 26
	colorFaster = "#2a9d55"
	colorSlower = "#d1495b"
)

// svgChart draws one bar per case and baseline: how many times faster
// shmkit is, on a log scale centred on 1x, green when shmkit wins and red
// when the baseline does, with both figures written beside it.
func svgChart(rep *benchReport) []byte {
	lo, hi := 0, 0 // log10 range of the axis
	for _, r := range rep.Results {
		for _, b := range r.Baselines {
			if b.OK() && b.Ratio > 0 {
				lo = min(lo, int(math.Floor(math.Log10(b.Ratio))))
				hi = max(hi, int(math.Ceil(math.Log10(b.Ratio))))
			}
		}
	}
	if lo == hi {
		lo, hi = -1, 1
	}
	x := func(ratio float64) float64 {
		return chartLeft + (math.Log10(ratio)-float64(lo))/float64(hi-lo)*(chartRight-chartLeft)
	}

	var rows bytes.Buffer
	y := chartTop
	for _, r := range rep.Results {
		y += groupHeight
		fmt.Fprintf(&rows, `<text x="%d" y="%d" class="case">%s</text>`+"\n", chartLabelX, y-6, esc(r.Name))
		fig := "shmkit " + valueText(r)
		if t := targetText(r); t != "" {
			fig += "; target " + t
		}
		fmt.Fprintf(&rows, `<text x="%d" y="%d" class="fig">%s</text>`+"\n", chartTextX, y-6, esc(fig))
		for _, b := range r.Baselines {
			fmt.Fprintf(&rows, `<text x="%d" y="%d" class="base">vs %s</text>`+"\n", chartLabelX+14, y+14, esc(b.Name))
			if !b.OK() {
				msg := "skipped: " + b.Skipped
				if b.Error != "" {
					msg = "error: " + b.Error
				}
				if len(msg) > 60 {
					msg = msg[:57] + "..."
				}
				fmt.Fprintf(&rows, `<text x="%d" y="%d" class="na">%s</text>`+"\n", chartLeft+6, y+14, esc(msg))
				y += rowHeight
				continue
			}
			x0, x1 := x(1), x(b.Ratio)
			color := colorFaster
			if b.Ratio < 1 {
				color, x0, x1 = colorSlower, x1, x0
			}
			fmt.Fprintf(&rows, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				x0, y+3, math.Max(x1-x0, 1), rowHeight-6, color, esc(fmt.Sprintf("%s vs %s: %s", r.Name, b.Name, ratioText(b.Ratio))))
			fmt.Fprintf(&rows, `<text x="%d" y="%d" class="ratio" fill="%s">%s</text>`, chartTextX, y+14, color, esc(ratioText(b.Ratio)))
			fmt.Fprintf(&rows, `<text x="%d" y="%d" class="fig">%s vs %s</text>`+"\n", chartTextX+100, y+14,
				esc(bench.FormatFigure(r.Value, r.Unit)), esc(bench.FormatFigure(b.Value, r.Unit)))
			y += rowHeight
		}
	}
	for _, e := range rep.Errors {
		y += groupHeight
		fmt.Fprintf(&rows, `<text x="%d" y="%d" class="case">%s</text><text x="%d" y="%d" class="na">failed: %s</text>`+"\n",
			chartLabelX, y-6, esc(e.Name), chartLeft+6, y-6, esc(e.Error))
	}
	bottom := y + 10
	height := bottom + 40

	var s bytes.Buffer
	fmt.Fprintf(&s, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	s.WriteString(`<style>
.title { font-size: 18px; font-weight: 600; fill: #222; }
.sub { fill: #555; }
.case { font-weight: 600; fill: #222; }
.base { fill: #333; }
.fig { fill: #555; }
.ratio { font-weight: 600; }
.na { fill: #888; font-style: italic; }
.tick { fill: #555; text-anchor: middle; }
</style>
`)
	fmt.Fprintf(&s, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", chartWidth, height)
	fmt.Fprintf(&s, `<text x="%d" y="28" class="title">shmkit vs baselines: how many times faster shmkit is</text>`+"\n", chartLabelX)
	fmt.Fprintf(&s, `<text x="%d" y="48" class="sub">%s</text>`+"\n", chartLabelX, esc(header(rep)))
	fmt.Fprintf(&s, `<text x="%d" y="66" class="sub">Log scale. Baselines measured in the same run; faster = a higher rate or a shorter time.</text>`+"\n", chartLabelX)
	fmt.Fprintf(&s, `<rect x="%d" y="56" width="10" height="10" fill="%s"/><text x="%d" y="65" class="sub">shmkit faster</text>`+"\n", chartTextX, colorFaster, chartTextX+14)
	fmt.Fprintf(&s, `<rect x="%d" y="56" width="10" height="10" fill="%s"/><text x="%d" y="65" class="sub">baseline faster</text>`+"\n", chartTextX+110, colorSlower, chartTextX+124)
	for e := lo; e <= hi; e++ {
		gx := x(math.Pow(10, float64(e)))
		stroke, width := "#ddd", 1
		if e == 0 {
			stroke, width = "#444", 2
		}
		fmt.Fprintf(&s, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%d"/>`+"\n", gx, chartTop, gx, bottom, stroke, width)
		label := tickLabel(e)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" class="tick">%s</text>`+"\n", gx, chartTop-6, label)
		fmt.Fprintf(&s, `<text x="%.1f" y="%d" class="tick">%s</text>`+"\n", gx, bottom+16, label)
	}
	s.Write(rows.Bytes())
	s.WriteString("</svg>\n")
	return s.Bytes()
}

// tickLabel labels the axis at 10^e: "1/100x", "1x", "1000x".
func tickLabel(e int) string {
	if e < 0 {
		return fmt.Sprintf("1/%.0fx", math.Pow(10, float64(-e)))
	}
	return fmt.Sprintf("%.0fx", math.Pow(10, float64(e)))
}

// htmlPage is a self-contained page: the table and the chart.
func htmlPage(rep *benchReport) []byte {
	var b bytes.Buffer
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shmkit bench</title>
<style>
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0 2em; font-size: 14px; }
th, td { padding: 4px 10px; text-align: left; border-bottom: 1px solid #e4e4e4; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.faster { color: ` + colorFaster + `; font-weight: 600; }
.slower { color: ` + colorSlower + `; font-weight: 600; }
.na { color: #888; font-style: italic; }
</style></head><body>
<h1>shmkit bench</h1>
`)
	fmt.Fprintf(&b, "<p>%s</p>\n", esc(header(rep)))
	b.WriteString("<table>\n<tr><th>case</th><th>shmkit</th><th>baseline</th><th>baseline figure</th><th>shmkit is</th><th>target</th></tr>\n")
	for _, r := range rep.Results {
		n := max(len(r.Baselines), 1)
		fmt.Fprintf(&b, `<tr><td rowspan="%d" title="%s"><b>%s</b></td><td rowspan="%d" class="num">%s</td>`,
			n, esc(caseAbout(r.Name)), esc(r.Name), n, esc(valueText(r)))
		for i, bl := range r.Baselines {
			if i > 0 {
				b.WriteString("<tr>")
			}
			fig, ratio := baselineText(r, bl)
			class := "faster"
			switch {
			case !bl.OK():
				class = "na"
			case bl.Ratio < 1:
				class = "slower"
			}
			fmt.Fprintf(&b, `<td>%s</td><td class="num">%s</td><td class="%s">%s</td>`, esc(bl.Name), esc(fig), class, esc(ratio))
			if i == 0 {
				fmt.Fprintf(&b, `<td rowspan="%d">%s</td>`, n, esc(targetText(r)))
			}
			b.WriteString("</tr>\n")
		}
		if len(r.Baselines) == 0 {
			fmt.Fprintf(&b, "<td></td><td></td><td></td><td>%s</td></tr>\n", esc(targetText(r)))
		}
	}
	for _, e := range rep.Errors {
		fmt.Fprintf(&b, "<tr><td><b>%s</b></td><td colspan=\"5\" class=\"na\">failed: %s</td></tr>\n", esc(e.Name), esc(e.Error))
	}
	b.WriteString("</table>\n")
	if notes := allNotes(rep); len(notes) > 0 {
		b.WriteString("<p>Notes:</p>\n<ul>\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "<li>%s</li>\n", esc(n))
		}
		b.WriteString("</ul>\n")
	}
	b.Write(svgChart(rep))
	b.WriteString("</body></html>\n")
	return b.Bytes()
}

func caseAbout(name string) string {
	if c, ok := bench.Lookup(name); ok {
		return c.About
	}
	return ""
}
