// Command flowstat turns packet traces into flow records, statistics, plots
// and an incident report.
package main

import (
	"errors"
	"fmt"
	"os"

	"flowstat/pipeline"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit statuses, documented in --help and README.md.
const (
	exitOK          = 0
	exitFailed      = 1 // nothing could be produced
	exitUsage       = 2 // bad flag, bad filter, missing input
	exitDamaged     = 3 // outputs written, but some input was damaged
	exitInterrupted = 130
)

// usageError marks errors that are the caller's to fix: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// errDamaged is returned when outputs were written from damaged input.
var errDamaged = errors.New("some input was damaged; outputs cover what could be read")

// errInterrupted is returned after SIGINT or SIGTERM.
var errInterrupted = pipeline.ErrInterrupted

const mainUsage = `flowstat turns packet traces into flow records, statistics, plots and a report.

Usage:
  flowstat analyze [flags] TRACE...   read traces, write flows.parquet, summary.json and the report
  flowstat report [flags] DIR         render the report of an output directory again
  flowstat live -i IFACE [flags]      capture on an interface, write the same outputs every --rotate window
  flowstat export -f FORMAT DIR       write a table of DIR as CSV, NDJSON or a Zeek conn.log
  flowstat extract --flow-id N -o F DIR  write the packets of flows of DIR to a pcap, from the traces
  flowstat map -o DIR [flags] TRACE   read one trace of an archive for merge, anywhere
  flowstat merge [flags] MAPDIR...    join map tasks' outputs into analyze's outputs over all their traces
  flowstat help [COMMAND]

Run 'flowstat help COMMAND' for the flags of analyze, report, live, export, extract, map or merge.

Exit status: 0 success; 1 nothing could be produced; 2 usage error (bad flag,
bad BPF expression, missing input); 3 outputs written but some input was
damaged (see summary.json and stderr); 130 interrupted.
`

func main() {
	stop := startProfiles()
	status := run(os.Args[1:])
	stop()
	os.Exit(status)
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, mainUsage)
		return exitUsage
	}
	var err error
	switch args[0] {
	case "analyze":
		err = runAnalyze(args[1:])
	case "report":
		err = runReport(args[1:])
	case "live":
		err = runLive(args[1:])
	case "export":
		err = runExport(args[1:])
	case "extract":
		err = runExtract(args[1:])
	case "map":
		err = runMap(args[1:])
	case "merge":
		err = runMerge(args[1:])
	case "version", "--version":
		fmt.Println("flowstat", version)
		return exitOK
	case "help", "-h", "--help":
		commands := map[string]func([]string) error{"analyze": runAnalyze, "report": runReport, "live": runLive, "export": runExport, "extract": runExtract, "map": runMap, "merge": runMerge}
		if len(args) > 1 && commands[args[1]] != nil {
			err = commands[args[1]]([]string{"--help"})
			break
		}
		fmt.Print(mainUsage)
		return exitOK
	default:
		fmt.Fprintf(os.Stderr, "flowstat: unknown command %q\n\n%s", args[0], mainUsage)
		return exitUsage
	}
	return exitStatus(err)
}

// exitStatus maps an error to the process exit status and tells the user.
func exitStatus(err error) int {
	var usage usageError
	var input pipeline.InputError
	var mapErr pipeline.MapError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		return exitOK
	case errors.As(err, &usage), errors.As(err, &input), errors.As(err, &mapErr):
		fmt.Fprintf(os.Stderr, "flowstat: %v\n", err)
		return exitUsage
	case errors.Is(err, errDamaged):
		fmt.Fprintf(os.Stderr, "flowstat: %v\n", err)
		return exitDamaged
	case errors.Is(err, errInterrupted):
		if err == errInterrupted {
			fmt.Fprintln(os.Stderr, "flowstat: interrupted; no output was written")
		} else {
			fmt.Fprintf(os.Stderr, "flowstat: %v\n", err)
		}
		return exitInterrupted
	}
	fmt.Fprintf(os.Stderr, "flowstat: %v\n", err)
	return exitFailed
}
