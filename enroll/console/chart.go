package console

import (
	"math"
	"strconv"
)

// The console draws its charts on the server, as SVG inside the page:
// no script, no library, nothing fetched from elsewhere, and the page's
// CSP holds (colours come from classes in console.css, not from inline
// styles). A table with the same numbers follows each chart for screen
// readers and for copying.

// chart is a stacked bar chart: one bar per bucket (a time window), one
// segment per series, stacked bottom to top in the order of Series.
type chart struct {
	Labels []string // one per bucket, under the bars ("09:00")
	Series []series
}

// series is one stacked quantity of a chart.
type series struct {
	Name   string // in the legend and the segments' tooltips
	Class  string // the CSS class that colours it ("o-verified")
	Values []int  // one per bucket; missing ones count 0
}

// The geometry of a drawn chart, in SVG user units.
const (
	chartW, chartH = 720, 220
	padLeft        = 44 // y labels
	padBottom      = 24 // x labels
	padTop         = 8
	padRight       = 8
)

// chartView is a chart laid out for the "chart" template.
type chartView struct {
	ID     string // the svg element's id
	Title  string // its accessible name
	W, H   int
	Left   int // x of the y axis
	Bottom int // y of the x axis
	Right  int
	Segs   []segView // the bars, segment by segment
	YTicks []tickView
	XTicks []tickView
	Legend []legendView
	Empty  bool // no bucket has anything
}

type segView struct {
	X, Y, W, H float64
	Class      string
	Title      string // "09:00 verified: 3"
}

type tickView struct {
	X, Y  float64
	Label string
}

type legendView struct{ Name, Class string }

// layout places the chart's bars, segments and ticks, for an svg element
// with the given id and accessible name.
func (c chart) layout(id, title string) chartView {
	v := chartView{ID: id, Title: title, W: chartW, H: chartH, Left: padLeft, Bottom: chartH - padBottom, Right: chartW - padRight}
	for _, s := range c.Series {
		v.Legend = append(v.Legend, legendView{s.Name, s.Class})
	}
	n := len(c.Labels)
	totals := make([]int, n)
	for _, s := range c.Series {
		for i := 0; i < n && i < len(s.Values); i++ {
			totals[i] += max(s.Values[i], 0)
		}
	}
	top := 0
	for _, t := range totals {
		top = max(top, t)
	}
	v.Empty = top == 0
	step := niceStep(top)
	top = max(step, (top+step-1)/step*step)
	plotH := float64(v.Bottom - padTop)
	for y := 0; y <= top; y += step {
		v.YTicks = append(v.YTicks, tickView{X: padLeft - 6, Y: float64(v.Bottom) - plotH*float64(y)/float64(top), Label: strconv.Itoa(y)})
	}
	if n == 0 {
		return v
	}
	slot := float64(v.Right-v.Left) / float64(n)
	barW := math.Max(1, slot*0.7)
	every := (n + 11) / 12 // at most 12 labels under the bars
	for i, label := range c.Labels {
		x := float64(v.Left) + slot*float64(i)
		bx := x + (slot-barW)/2
		y := float64(v.Bottom)
		for _, s := range c.Series {
			if i >= len(s.Values) || s.Values[i] <= 0 {
				continue
			}
			h := plotH * float64(s.Values[i]) / float64(top)
			y -= h
			v.Segs = append(v.Segs, segView{X: bx, Y: y, W: barW, H: h, Class: s.Class, Title: label + " " + s.Name + ": " + strconv.Itoa(s.Values[i])})
		}
		if i%every == 0 {
			v.XTicks = append(v.XTicks, tickView{X: x + slot/2, Y: float64(v.Bottom) + 16, Label: label})
		}
	}
	return v
}

// niceStep is the step of the y axis for values up to top: 1, 2 or 5
// times a power of ten, giving at most 5 steps.
func niceStep(top int) int {
	if top <= 5 {
		return 1
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if top <= 5*m*p {
				return m * p
			}
		}
	}
}
