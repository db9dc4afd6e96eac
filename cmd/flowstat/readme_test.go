package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeExamples runs the README's DuckDB and pandas examples, as
// written, against the output of the README's own demo command.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "flowstat-out", "sample")
	archive := filepath.Join(dir, "archive")
	if code := analyzeInto(t, out, "--hosts", "--dataset", archive, "../../testdata/sample.pcap.gz"); code != exitOK { // --hosts as scripts/demo.sh
		t.Fatalf("analyze of the bundled sample: exit status %d", code)
	}
	// The examples use the path the demo writes to, relative to the
	// repository, and a dataset in archive/.
	fix := func(s string) string {
		s = strings.ReplaceAll(s, "'archive/", "'"+archive+"/")
		return strings.ReplaceAll(s, "flowstat-out/sample/", out+"/")
	}

	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("README has no sql example")
	}
	db := openDuckDB(t)
	n := 0
	for _, b := range blocks {
		for _, stmt := range strings.Split(b[1], ";") {
			if strings.TrimSpace(regexp.MustCompile(`(?m)^--.*$`).ReplaceAllString(stmt, "")) == "" {
				continue
			}
			rows, err := db.Query(fix(stmt))
			if err != nil {
				t.Errorf("README query fails: %v\n%s", err, stmt)
				continue
			}
			count := 0
			for rows.Next() {
				count++
			}
			rows.Close()
			if count == 0 {
				t.Errorf("README query returns no row:\n%s", stmt)
			}
			n++
		}
	}
	t.Logf("%d DuckDB examples ran", n)

	py := regexp.MustCompile("(?s)```python\n(.*?)```").FindStringSubmatch(string(readme))
	if py == nil {
		t.Fatal("README has no python example")
	}
	t.Run("pandas", func(t *testing.T) {
		if err := exec.Command("python3", "-c", "import pandas, pyarrow").Run(); err != nil {
			t.Skipf("python3 with pandas and pyarrow is not installed: the pandas example is not run (%v)", err)
		}
		output, err := exec.Command("python3", "-c", fix(py[1])).CombinedOutput()
		if err != nil {
			t.Fatalf("README pandas example fails: %v\n%s", err, output)
		}
		if !strings.Contains(string(output), "datetime64[ns, UTC]") {
			t.Errorf("pandas does not see datetime64[ns, UTC]:\n%s", output)
		}
	})
}
