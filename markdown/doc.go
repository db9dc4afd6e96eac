// Package markdown renders report.md from the statistics and findings that
// package report computed: summary, findings, top destinations, timelines
// and method, with tables aligned for a plain editor and GitHub. Like
// package plots, it computes nothing: the same Stats always give the same
// bytes.
//
// Imports: report, flows, reader (protocol numbers).
package markdown
