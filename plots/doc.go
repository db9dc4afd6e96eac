// Package plots draws the report's figures as PNG files with gonum/plot.
//
// It takes the figures package report decided on (report.Stats.Figures:
// titles, axis labels, series and bars, already in the units shown) and
// computes nothing itself: what a figure shows, and whether there is
// anything to show, is report's decision. Every file is written atomically.
//
// Pipeline position: reader -> flows -> report -> plots.
package plots
