package report

import "testing"

// For the tests of package report_test (the Markdown rendering), which
// see only what is exported.

// AttackDataset is ten minutes of traffic with one of each kind of
// finding (attackFlows), in windows of 5 s and an idle timeout of 60 s.
func AttackDataset(t testing.TB) *Dataset { return dataset(t, 5, 60, attackFlows()...) }

// BuildForTest builds the report of ds, failing t on an error.
func BuildForTest(t testing.TB, ds *Dataset, opts BuildOptions) *Stats { return build(t, ds, opts) }

// renderMarkdown is markdown.Markdown, which tests of this package use to
// compare whole reports: set by markdown_test.go's init, as package
// markdown imports this one.
var renderMarkdown func(*Stats) []byte

// SetMarkdown sets renderMarkdown.
func SetMarkdown(render func(*Stats) []byte) { renderMarkdown = render }
