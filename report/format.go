package report

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// FormatCount writes a count with three significant digits: 993, 4.99 k, 1.2 M.
func FormatCount(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10)
	}
	return fmtSI(float64(n), " ")
}

// fmtSI writes v >= 1 with three significant digits and an SI prefix after sep.
func fmtSI(v float64, sep string) string {
	units := []string{"", "k", "M", "G", "T", "P", "E"}
	u := 0
	for v >= 999.5 && u < len(units)-1 {
		v /= 1000
		u++
	}
	s := sig3(v)
	if units[u] == "" {
		return s
	}
	return s + sep + units[u]
}

// sig3 writes v with three significant digits, without trailing zeros.
func sig3(v float64) string {
	var s string
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 99.95:
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 9.995:
		s = strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 0.9995:
		s = strconv.FormatFloat(v, 'f', 2, 64)
	default:
		s = strconv.FormatFloat(v, 'g', 3, 64)
	}
	if strings.Contains(s, ".") && !strings.ContainsAny(s, "e") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// FormatRate writes a rate per second: 0.5, 1.6 k.
func FormatRate(v float64) string {
	if v < 1 {
		return sig3(v)
	}
	return fmtSI(v, " ")
}

// FormatBytes writes a byte count in SI units: 512 B, 1.51 MB.
func FormatBytes(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10) + " B"
	}
	return fmtSI(float64(n), " ") + "B"
}

// FormatBitRate writes bits per second: 340 Mbit/s.
func FormatBitRate(v float64) string {
	if v < 1 {
		return sig3(v) + " bit/s"
	}
	return fmtSI(v, " ") + "bit/s"
}

// FormatDuration writes seconds for people: 0 s, 25 µs, 31.8 ms, 23.7 s, 5.2 min, 3.1 h.
func FormatDuration(s float64) string {
	switch {
	case s == 0:
		return "0 s"
	case s < 1e-3:
		return sig3(s*1e6) + " µs"
	case s < 1:
		return sig3(s*1e3) + " ms"
	case s < 120:
		return sig3(s) + " s"
	case s < 2*3600:
		return sig3(s/60) + " min"
	case s < 2*86400:
		return sig3(s/3600) + " h"
	}
	return sig3(s/86400) + " d"
}

// FormatFlagDuration writes a duration as a flag value: 60s, 1m30s, 500ms.
func FormatFlagDuration(ns int64) string { return time.Duration(ns).String() }

func FormatQuantiles(q Quantiles) []string {
	if q.N == 0 {
		return []string{"–", "–", "–"}
	}
	return []string{FormatDuration(q.P50), FormatDuration(q.P90), FormatDuration(q.Max)}
}

func FormatPercent(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "–"
	}
	return sig3(f*100) + " %"
}

func FormatRatio(r float64) string { return sig3(r) + "×" }

// FormatTime writes a time in UTC to the millisecond.
func FormatTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02 15:04:05.000") + " UTC"
}

// FormatSpan writes a time span, leaving out the second date when it repeats.
func FormatSpan(first, last int64) string {
	a, b := time.Unix(0, first).UTC(), time.Unix(0, last).UTC()
	end := b.Format("2006-01-02 15:04:05.000")
	if a.Format("2006-01-02") == b.Format("2006-01-02") {
		end = b.Format("15:04:05.000")
	}
	return a.Format("2006-01-02 15:04:05.000") + " to " + end + " UTC"
}

// FormatWindow writes a window start: to the second, or finer for sub-second windows.
func FormatWindow(start, interval int64) string {
	t := time.Unix(0, start).UTC()
	if interval%int64(time.Second) != 0 {
		return t.Format("2006-01-02 15:04:05.000")
	}
	return t.Format("2006-01-02 15:04:05")
}
