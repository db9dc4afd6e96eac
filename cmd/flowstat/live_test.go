package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"flowstat/pipeline"
	"flowstat/reader"
	"flowstat/tables"
)

// liveRow is one row of a window's flows.parquet.
type liveRow struct {
	window             string
	id                 uint64
	proto              int
	srcPort, dstPort   int
	state, endReason   string
	pktsFwd, pktsRev   int64
	bytesFwd, bytesRev int64
}

// liveRows reads the flows.parquet of every window in dir, oldest window
// first.
func liveRows(t *testing.T, db *sql.DB, dir string) []liveRow {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf(`SELECT regexp_extract(filename, '([0-9]{8}T[0-9]{6}Z)/flows.parquet$', 1) AS win,
		flow_id, proto, src_port, dst_port, state, end_reason, packets_fwd, packets_rev, bytes_fwd, bytes_rev
		FROM read_parquet('%s/2*/flows.parquet', filename = true) ORDER BY win, first_seen, flow_id`, dir))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []liveRow
	for rows.Next() {
		var r liveRow
		if err := rows.Scan(&r.window, &r.id, &r.proto, &r.srcPort, &r.dstPort, &r.state, &r.endReason,
			&r.pktsFwd, &r.pktsRev, &r.bytesFwd, &r.bytesRev); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rowsOf returns the rows that match, oldest window first.
func rowsOf(rows []liveRow, match func(r *liveRow) bool) []liveRow {
	var out []liveRow
	for i := range rows {
		if match(&rows[i]) {
			out = append(out, rows[i])
		}
	}
	return out
}

// windowDirs lists the window directories in dir, oldest first, and checks
// that nothing else is there but latest, pointing at the newest.
func windowDirs(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var wins []string
	for _, e := range ents {
		switch {
		case e.Name() == pipeline.LatestLink:
		case e.IsDir() && pipeline.IsWindowDir(e.Name()):
			wins = append(wins, e.Name())
		default:
			t.Errorf("unexpected entry %s in %s", e.Name(), dir)
		}
	}
	slices.Sort(wins)
	if len(wins) == 0 {
		t.Fatalf("no window in %s", dir)
	}
	if target, err := os.Readlink(filepath.Join(dir, pipeline.LatestLink)); err != nil || target != wins[len(wins)-1] {
		t.Errorf("latest -> %q (%v), want %s", target, err, wins[len(wins)-1])
	}
	return wins
}

// checkWindowFiles checks that a window holds every output of analyze.
func checkWindowFiles(t *testing.T, dir string, more ...string) {
	t.Helper()
	files := append([]string{tables.FlowsFile, tables.SummaryFile, tables.IntervalsFile, tables.DestinationsFile,
		tables.CDFFile, tables.MarkdownFile}, more...)
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("window %s: %v", filepath.Base(dir), err)
		}
	}
}

// readLiveSummary reads a window's summary.json.
func readLiveSummary(t *testing.T, dir string) pipeline.LiveSummary {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, tables.SummaryFile))
	if err != nil {
		t.Fatal(err)
	}
	var s pipeline.LiveSummary
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// intervalPackets sums the packets of intervals.parquet over every window.
func intervalPackets(t *testing.T, db *sql.DB, dir string) int64 {
	t.Helper()
	return queryInt(t, db, fmt.Sprintf(`SELECT coalesce(sum(packets), 0) FROM read_parquet('%s/2*/intervals.parquet')`, dir))
}

// latestRows keeps each flow's row from the newest window that has it, as
// a query over live windows should.
func latestRows(rows []liveRow) map[uint64]liveRow {
	out := map[uint64]liveRow{}
	for _, r := range rows {
		out[r.id] = r // rows come oldest window first
	}
	return out
}

// TestLiveLoopback captures real connections on the loopback interface
// across windows of 2 s and stops with SIGTERM, as an operator would.
func TestLiveLoopback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture on lo needs root (or CAP_NET_RAW and CAP_NET_ADMIN); CI runs this test as root")
	}
	srv := startServers(t)
	dir := t.TempDir()
	ready := make(chan struct{})
	liveStarted = func() { close(ready) }
	t.Cleanup(func() { liveStarted = nil })
	status := make(chan int, 1)
	go func() {
		status <- run([]string{"live", "-q", "-i", "lo", "--rotate", "2s", "--save-pcap", "-b", srv.bpf(), "-o", dir})
	}()
	select {
	case <-ready:
	case s := <-status:
		t.Fatalf("live exited with status %d before capturing", s)
	case <-time.After(10 * time.Second):
		t.Fatal("live did not start")
	}

	// Start just after a window opens, so that what follows fits in it.
	waitWindow(2*time.Second, 300*time.Millisecond)
	long := srv.dial(t)
	srv.exchange(t, long, "long-1")
	complete := srv.dial(t)
	srv.exchange(t, complete, "complete")
	if _, err := io.ReadAll(complete); err != nil {
		t.Fatal(err)
	}
	complete.Close()
	reset := srv.dial(t)
	if _, err := reset.Write([]byte("reset")); err != nil {
		t.Fatal(err)
	}
	if _, err := reset.Read(make([]byte, 16)); err == nil {
		t.Fatal("the server did not reset the connection")
	}
	reset.Close()
	if c, err := net.Dial("tcp4", srv.closedAddr()); err == nil {
		c.Close()
		t.Fatal("connected to a closed port")
	}
	udp1 := srv.udpExchange(t, 3)

	// In the next window the long connection goes on and closes.
	waitWindow(2*time.Second, 600*time.Millisecond)
	srv.exchange(t, long, "long-2")
	long.Close()
	time.Sleep(100 * time.Millisecond) // the server's FIN
	// The last window: a datagram exchange, then SIGTERM.
	waitWindow(2*time.Second, 600*time.Millisecond)
	udp2 := srv.udpExchange(t, 1)
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-status:
		if s != exitOK {
			t.Fatalf("exit status %d after SIGTERM, want 0", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("live did not stop after SIGTERM")
	}

	wins := windowDirs(t, dir)
	if len(wins) < 3 {
		t.Fatalf("got windows %v, want at least 3", wins)
	}
	var read, captured, received int64
	for i, w := range wins {
		checkWindowFiles(t, filepath.Join(dir, w), pipeline.PcapFile)
		s := readLiveSummary(t, filepath.Join(dir, w))
		c := s.Capture
		if c.KernelDropped+c.InterfaceDropped+c.FlowstatDropped != 0 {
			t.Errorf("window %s dropped packets: %+v", w, c)
		}
		if c.Interface != "lo" || c.WindowStart.Format(pipeline.WindowLayout) != w || c.WindowEnd.Sub(c.WindowStart) != 2*time.Second {
			t.Errorf("window %s: capture %+v", w, c)
		}
		if last := i == len(wins)-1; c.Partial != (i == 0 || last) {
			t.Errorf("window %s: partial %v", w, c.Partial)
		}
		read += int64(s.Packets.Read)
		captured += int64(c.Captured)
		received += int64(c.Received)
		// The saved packets are the window's.
		tr, err := reader.Open(filepath.Join(dir, w, pipeline.PcapFile), nil)
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		var fr reader.Frame
		for tr.Next(&fr) == nil {
			n++
		}
		tr.Close()
		if n != s.Packets.Read {
			t.Errorf("window %s: %d packets in %s, %d read", w, n, pipeline.PcapFile, s.Packets.Read)
		}
		md, err := os.ReadFile(filepath.Join(dir, w, tables.MarkdownFile))
		if err != nil {
			t.Fatal(err)
		}
		if i, j := strings.Index(string(md), "## Capture"), strings.Index(string(md), "## Findings"); i < 0 || j < i {
			t.Errorf("window %s: report.md has no Capture section before Findings", w)
		}
	}
	if read == 0 || read != captured || received < captured {
		t.Errorf("packets read %d, captured %d, received by the kernel %d", read, captured, received)
	}

	db := openDuckDB(t)
	rows := liveRows(t, db, dir)
	tcp := func(port int) func(r *liveRow) bool {
		return func(r *liveRow) bool { return r.proto == 6 && r.srcPort == port && r.dstPort == srv.tcpPort() }
	}
	udp := func(port int) func(r *liveRow) bool {
		return func(r *liveRow) bool { return r.proto == 17 && r.srcPort == port && r.dstPort == srv.udpPort() }
	}
	checkEnded := func(name string, got []liveRow, state, end string) *liveRow {
		t.Helper()
		if len(got) != 1 {
			t.Errorf("%s: %d rows, want 1 (a flow that ended is not written again): %+v", name, len(got), got)
			return nil
		}
		if got[0].state != state || got[0].endReason != end {
			t.Errorf("%s: state %s, end %s; want %s, %s", name, got[0].state, got[0].endReason, state, end)
		}
		return &got[0]
	}
	if r := checkEnded("complete", rowsOf(rows, tcp(localPort(complete))), "SF", "fin"); r != nil && (r.pktsFwd < 4 || r.pktsRev < 3) {
		t.Errorf("complete: packets %d/%d", r.pktsFwd, r.pktsRev)
	}
	checkEnded("reset", rowsOf(rows, tcp(localPort(reset))), "RSTR", "rst")
	if r := checkEnded("refused", rowsOf(rows, func(r *liveRow) bool { return r.proto == 6 && r.dstPort == srv.closedPort }), "REJ", "rst"); r != nil && (r.pktsFwd != 1 || r.pktsRev != 1) {
		t.Errorf("refused: packets %d/%d, want 1/1", r.pktsFwd, r.pktsRev)
	}

	// The long connection spans two windows under one flow_id: open, then
	// closed with counts since its first packet.
	lr := rowsOf(rows, tcp(localPort(long)))
	if len(lr) != 2 {
		t.Fatalf("long connection: %d rows, want 2: %+v", len(lr), lr)
	}
	open, closed := lr[0], lr[1]
	if open.window >= closed.window || open.id != closed.id {
		t.Errorf("long connection: rows %+v", lr)
	}
	if open.state != "S1" || open.endReason != "open" || closed.state != "SF" || closed.endReason != "fin" {
		t.Errorf("long connection: %s/%s then %s/%s, want S1/open then SF/fin", open.state, open.endReason, closed.state, closed.endReason)
	}
	if closed.pktsFwd <= open.pktsFwd || closed.pktsRev <= open.pktsRev || closed.bytesFwd <= open.bytesFwd {
		t.Errorf("long connection: counts do not accumulate: %+v then %+v", open, closed)
	}

	// Datagrams: both directions, exact counts (IPv4 20 + UDP 8 + 10 bytes).
	u1 := rowsOf(rows, udp(udp1))
	if len(u1) < 2 || u1[0].endReason != "open" || u1[len(u1)-1].endReason != "eof" {
		t.Errorf("udp exchange: rows %+v, want open in each window until eof in the last", u1)
	}
	for _, r := range u1 {
		if r.id != u1[0].id || r.state != "SF" || r.pktsFwd != 3 || r.pktsRev != 3 || r.bytesFwd != 3*38 || r.bytesRev != 3*38 {
			t.Errorf("udp exchange: row %+v, want SF, 3/3 packets, 114/114 bytes", r)
		}
	}
	// The exchange just before SIGTERM is in the final, partial window.
	u2 := rowsOf(rows, udp(udp2))
	if len(u2) != 1 || u2[0].window != wins[len(wins)-1] || u2[0].state != "SF" || u2[0].endReason != "eof" || u2[0].pktsFwd != 1 {
		t.Errorf("last udp exchange: rows %+v, want SF/eof in the last window %s", u2, wins[len(wins)-1])
	}

	// Each packet counts in the intervals of one window only.
	var total int64
	for _, r := range latestRows(rows) {
		total += r.pktsFwd + r.pktsRev
	}
	if got := intervalPackets(t, db, dir); got != total || total != read {
		t.Errorf("intervals hold %d packets, the flows' latest rows %d, the windows read %d", got, total, read)
	}
}

// waitWindow sleeps until after past the next multiple of rotate.
func waitWindow(rotate, after time.Duration) {
	now := time.Now()
	next := now.Truncate(time.Second).Add(rotate - time.Duration(now.Unix()%int64(rotate/time.Second))*time.Second)
	time.Sleep(time.Until(next.Add(after)))
}

func localPort(c net.Conn) int { return c.LocalAddr().(*net.TCPAddr).Port }

// servers are the test's listeners on 127.0.0.1: a TCP server whose
// behaviour the client's first message picks, a UDP echo server and a
// closed port.
type servers struct {
	tcp        net.Listener
	udp        net.PacketConn
	closedPort int
}

func startServers(t *testing.T) *servers {
	t.Helper()
	s := &servers{}
	var err error
	if s.tcp, err = net.Listen("tcp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.tcp.Close() })
	if s.udp, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.udp.Close() })
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.closedPort = closed.Addr().(*net.TCPAddr).Port
	closed.Close()
	go s.serveTCP()
	go s.serveUDP()
	return s
}

func (s *servers) tcpPort() int       { return s.tcp.Addr().(*net.TCPAddr).Port }
func (s *servers) udpPort() int       { return s.udp.LocalAddr().(*net.UDPAddr).Port }
func (s *servers) closedAddr() string { return fmt.Sprintf("127.0.0.1:%d", s.closedPort) }

// bpf keeps only the test's own traffic.
func (s *servers) bpf() string {
	return fmt.Sprintf("(tcp and (port %d or port %d)) or (udp and port %d)", s.tcpPort(), s.closedPort, s.udpPort())
}

func (s *servers) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			buf := make([]byte, 64)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				msg := string(buf[:n])
				switch {
				case msg == "reset":
					c.(*net.TCPConn).SetLinger(0) // close with a RST
					return
				case msg == "complete":
					c.Write(buf[:n])
					return
				default:
					c.Write(buf[:n])
				}
			}
		}()
	}
}

func (s *servers) serveUDP() {
	buf := make([]byte, 64)
	for {
		n, addr, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		s.udp.WriteTo(buf[:n], addr)
	}
}

func (s *servers) dial(t *testing.T) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp4", s.tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// exchange sends msg and reads its echo.
func (s *servers) exchange(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
}

// udpExchange sends n datagrams of 10 bytes from a new socket, reads each
// echo, and returns the socket's port.
func (s *servers) udpExchange(t *testing.T, n int) int {
	t.Helper()
	c, err := net.Dial("udp4", s.udp.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 10)
	for range n {
		if _, err := c.Write([]byte("0123456789")); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
	}
	return c.LocalAddr().(*net.UDPAddr).Port
}

// flowstatBinary builds the command for the tests that run it as a
// process.
func flowstatBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "flowstat")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// Reachable by the unprivileged user of TestLiveErrors.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return bin
}

// startLive runs flowstat live as a process and waits until it captures.
func startLive(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(flowstatBinary(t), append([]string{"live"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for lines.Scan() {
		if strings.Contains(lines.Text(), "capturing on") {
			return cmd, lines
		}
	}
	t.Fatalf("flowstat live did not start capturing")
	return nil, nil
}

// exitCode waits for a process started by startLive, reading the rest of
// its stderr.
func exitCode(t *testing.T, cmd *exec.Cmd, lines *bufio.Scanner) (int, string) {
	t.Helper()
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("flowstat live did not exit")
	}
	return cmd.ProcessState.ExitCode(), rest.String()
}

// TestLiveSignals stops the command with signals: one writes the partial
// window and exits 0; two exit at once, leaving no partial window.
func TestLiveSignals(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("live capture on lo needs root (or CAP_NET_RAW and CAP_NET_ADMIN); CI runs this test as root")
	}
	srv := startServers(t)
	t.Run("SIGTERM", func(t *testing.T) {
		dir := t.TempDir()
		cmd, lines := startLive(t, "-i", "lo", "--rotate", "60s", "-b", srv.bpf(), "-o", dir)
		port := srv.udpExchange(t, 2)
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		if code, stderr := exitCode(t, cmd, lines); code != exitOK {
			t.Fatalf("exit status %d after SIGTERM, want 0; stderr:\n%s", code, stderr)
		}
		wins := windowDirs(t, dir)
		last := filepath.Join(dir, wins[len(wins)-1])
		checkWindowFiles(t, last)
		if c := readLiveSummary(t, last).Capture; !c.Partial {
			t.Errorf("the window written at SIGTERM is not marked partial: %+v", c)
		}
		rows := liveRows(t, openDuckDB(t), dir)
		got := rowsOf(rows, func(r *liveRow) bool { return r.srcPort == port })
		if len(got) != 1 || got[0].state != "SF" || got[0].endReason != "eof" || got[0].pktsFwd != 2 || got[0].pktsRev != 2 {
			t.Errorf("rows %+v, want one SF flow of 2/2 packets ending eof", got)
		}
	})
	t.Run("twice", func(t *testing.T) {
		dir := t.TempDir()
		cmd, lines := startLive(t, "-i", "lo", "--rotate", "60s", "-b", srv.bpf(), "-o", dir)
		srv.udpExchange(t, 2)
		time.Sleep(300 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Process.Signal(syscall.SIGINT)
		code, stderr := exitCode(t, cmd, lines)
		if code != exitInterrupted {
			t.Fatalf("exit status %d after two signals, want %d; stderr:\n%s", code, exitInterrupted, stderr)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			// Only a window that was complete before the second signal may
			// be there.
			if e.Name() == pipeline.LatestLink {
				continue
			}
			if !pipeline.IsWindowDir(e.Name()) {
				t.Errorf("partial output left: %s", e.Name())
				continue
			}
			checkWindowFiles(t, filepath.Join(dir, e.Name()))
		}
	})
}

// TestLiveErrors checks that what prevents capturing is a usage error
// (status 2) that names the fix.
func TestLiveErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no interface", []string{"-o", "x"}, "no interface given"},
		{"no such interface", []string{"-i", "flowstat-none0"}, ""},
		{"bad filter", []string{"-i", "lo", "-b", "tcp port"}, "invalid --bpf"},
		{"rotate", []string{"-i", "lo", "--rotate", "1500ms"}, "--rotate"},
		{"interval", []string{"-i", "lo", "--rotate", "60s", "--interval", "7s"}, "--interval"},
		{"argument", []string{"-i", "lo", "trace.pcap"}, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"live", "-q", "-o", t.TempDir()}, tt.args...)
			if got := run(args); got != exitUsage {
				t.Errorf("status %d, want %d", got, exitUsage)
			}
		})
	}
	t.Run("messages", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("needs root, to compare with an unprivileged user")
		}
		bin := flowstatBinary(t)
		for _, tt := range []struct {
			name string
			uid  uint32
			args []string
			want string
		}{
			{"no such interface", 0, []string{"-i", "flowstat-none0"}, "choose one of: lo"},
			{"not permitted", 65534, []string{"-i", "lo"}, "setcap cap_net_raw,cap_net_admin=eip"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				dir, err := os.MkdirTemp("", "flowstat-live-test-")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.RemoveAll(dir) })
				os.Chmod(dir, 0o777) // writable by the unprivileged user
				cmd := exec.Command(bin, append([]string{"live", "-o", dir}, tt.args...)...)
				cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: tt.uid, Gid: tt.uid}}
				out, _ := cmd.CombinedOutput()
				if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(string(out), tt.want) {
					t.Errorf("status %d, output %q; want %d and %q", code, out, exitUsage, tt.want)
				}
			})
		}
	})
}

// fakeSource is a capture fed by the test.
type fakeSource struct {
	batches chan *reader.Batch
	once    sync.Once
	mu      sync.Mutex
	stats   reader.LiveStats
}

func newFakeSource() *fakeSource { return &fakeSource{batches: make(chan *reader.Batch, 16)} }

func (f *fakeSource) Batches() <-chan *reader.Batch { return f.batches }
func (f *fakeSource) Release(*reader.Batch)         {}
func (f *fakeSource) Stop()                         { f.once.Do(func() { close(f.batches) }) }
func (f *fakeSource) Err() error                    { return nil }

func (f *fakeSource) Stats() reader.LiveStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// send hands frames over, counting them as received and captured.
func (f *fakeSource) send(frames ...reader.Frame) {
	f.mu.Lock()
	f.stats.Received += uint64(len(frames))
	f.stats.Captured += uint64(len(frames))
	f.mu.Unlock()
	f.batches <- &reader.Batch{Frames: frames}
}

// fakeClock is the wall clock of a test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// frame builds an Ethernet frame of an IPv4 TCP segment (flags) or, when
// tcpFlags is negative, a UDP datagram, with payload bytes of payload.
func frame(at time.Time, src, dst netip.AddrPort, tcpFlags int, payload int) reader.Frame {
	proto, th := byte(17), 8
	if tcpFlags >= 0 {
		proto, th = 6, 20
	}
	ipLen := 20 + th + payload
	b := make([]byte, 14+ipLen)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, proto
	binary.BigEndian.PutUint16(ip[2:], uint16(ipLen))
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	tr := ip[20:]
	binary.BigEndian.PutUint16(tr[0:], src.Port())
	binary.BigEndian.PutUint16(tr[2:], dst.Port())
	if proto == 6 {
		tr[12], tr[13] = 5<<4, byte(tcpFlags)
	} else {
		binary.BigEndian.PutUint16(tr[4:], uint16(th+payload))
	}
	return reader.Frame{Time: at.UnixNano(), LinkType: reader.LinkEthernet, WireLen: len(b), Data: b}
}

// waitFor polls until path exists.
func waitFor(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
}

// startFakeLive runs the live loop on a fake source and clock.
func startFakeLive(t *testing.T, clock *fakeClock, args ...string) (src *fakeSource, dir string, stop func() error) {
	t.Helper()
	dir = t.TempDir()
	cfg, err := parseLiveFlags(append([]string{"-q", "-i", "fake", "-o", dir}, args...))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Clock = clock.now
	src = newFakeSource()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	c := pipeline.NewCapture(&cfg.CaptureConfig, src, reader.LinkEthernet) // reads the clock
	go func() { done <- c.Run(ctx) }()
	return src, dir, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("live did not stop")
			return nil
		}
	}
}

// TestLiveWindows drives the live loop with made-up frames and a made-up
// clock: windows close on the clock and on packet time, open flows carry
// over under one flow_id, idle flows end, drops are reported, and every
// packet counts in one window's intervals.
func TestLiveWindows(t *testing.T) {
	for _, workers := range []string{"1", "3"} {
		t.Run("workers "+workers, func(t *testing.T) { testLiveWindows(t, workers) })
	}
}

func testLiveWindows(t *testing.T, workers string) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	clock := &fakeClock{t: at(0.5)}
	src, dir, stop := startFakeLive(t, clock, "--rotate", "10s", "--idle-timeout", "5s", "--no-plots", "-j", workers)

	cli, srv := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	dns := netip.MustParseAddr("10.0.0.3")
	a := netip.AddrPortFrom(cli, 40000)
	b := netip.AddrPortFrom(cli, 40001)
	web := netip.AddrPortFrom(srv, 80)
	c, ntp := netip.AddrPortFrom(cli, 6000), netip.AddrPortFrom(dns, 123)
	d, dnsPort := netip.AddrPortFrom(cli, 5000), netip.AddrPortFrom(dns, 53)
	e := netip.AddrPortFrom(cli, 5001)
	const (
		fin = reader.FIN
		syn = reader.SYN
		ack = reader.ACK
		udp = -1
	)
	// Window 1: a (open), b (complete), c (UDP both ways, open), d and e
	// (one datagram each, idle by the window's end; the table ends d
	// itself, e is still in it when the window closes).
	src.send(
		frame(at(1), a, web, syn, 0), frame(at(1.001), web, a, syn|ack, 0), frame(at(1.002), a, web, ack, 0),
		frame(at(1.003), a, web, ack, 100), frame(at(1.004), d, dnsPort, udp, 30),
		frame(at(2), b, web, syn, 0), frame(at(2.001), web, b, syn|ack, 0), frame(at(2.002), b, web, ack, 0),
		frame(at(2.003), b, web, fin|ack, 0), frame(at(2.004), web, b, fin|ack, 0), frame(at(2.005), b, web, ack, 0),
		frame(at(4.5), e, dnsPort, udp, 30), frame(at(5), a, web, ack, 0),
		frame(at(8), c, ntp, udp, 48), frame(at(8.001), ntp, c, udp, 48),
	)
	src.mu.Lock()
	src.stats.Received += 2
	src.stats.KernelDropped += 2
	src.mu.Unlock()
	// A frame stamped after the window's end closes it, though the clock
	// has not got there.
	clock.set(at(5))
	src.send(frame(at(9), a, web, ack, 10), frame(at(10.1), web, a, ack, 10))
	w1, w2 := filepath.Join(dir, "20260101T000000Z"), filepath.Join(dir, "20260101T000010Z")
	waitFor(t, w1)
	src.send(
		frame(at(11), a, web, fin|ack, 0), frame(at(11.001), web, a, fin|ack, 0), frame(at(11.002), a, web, ack, 0),
		frame(at(12), c, ntp, udp, 48),
	)
	clock.set(at(13))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if wins := windowDirs(t, dir); !slices.Equal(wins, []string{filepath.Base(w1), filepath.Base(w2)}) {
		t.Fatalf("windows %v", wins)
	}

	db := openDuckDB(t)
	type want struct {
		window, state, end string
		fwd, rev           int64
	}
	rows := liveRows(t, db, dir)
	check := func(name string, from netip.AddrPort, wants ...want) {
		t.Helper()
		got := rowsOf(rows, func(r *liveRow) bool { return r.srcPort == int(from.Port()) })
		var have []want
		for _, r := range got {
			have = append(have, want{r.window, r.state, r.endReason, r.pktsFwd, r.pktsRev})
			if r.id != got[0].id {
				t.Errorf("%s: flow ids %d and %d", name, got[0].id, r.id)
			}
		}
		if !slices.Equal(have, wants) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, have, wants)
		}
	}
	check("a", a, want{"20260101T000000Z", "S1", "open", 5, 1}, want{"20260101T000010Z", "SF", "fin", 7, 3})
	check("b", b, want{"20260101T000000Z", "SF", "fin", 4, 2})
	check("c", c, want{"20260101T000000Z", "SF", "open", 1, 1}, want{"20260101T000010Z", "SF", "eof", 2, 1})
	check("d", d, want{"20260101T000000Z", "S0", "idle", 1, 0})
	check("e", e, want{"20260101T000000Z", "S0", "idle", 1, 0})

	// Window 2's intervals count only its own packets.
	perWindow := func(win string) int64 {
		return queryInt(t, db, fmt.Sprintf(`SELECT coalesce(sum(packets), 0) FROM read_parquet('%s/%s/intervals.parquet')`, dir, win))
	}
	if p1, p2 := perWindow(filepath.Base(w1)), perWindow(filepath.Base(w2)); p1 != 16 || p2 != 5 {
		t.Errorf("intervals: %d packets in window 1, %d in window 2; want 16 and 5", p1, p2)
	}

	s1, s2 := readLiveSummary(t, w1), readLiveSummary(t, w2)
	if c := s1.Capture; c.Received != 19 || c.Captured != 17 || c.KernelDropped != 2 || !c.Partial ||
		!c.From.Equal(at(0.5)) || !c.To.Equal(at(10)) {
		t.Errorf("window 1 capture %+v", c)
	}
	if len(s1.Warnings) != 1 || !strings.Contains(s1.Warnings[0], "2 packets were lost") {
		t.Errorf("window 1 warnings %q", s1.Warnings)
	}
	if c := s2.Capture; c.KernelDropped != 0 || c.Captured != 4 || !c.Partial || !c.To.Equal(at(13)) {
		t.Errorf("window 2 capture %+v", c)
	}
	if s1.Packets.Read != 16 || s2.Packets.Read != 5 || s1.Packets.TCP != 12 || s2.Packets.UDP != 1 {
		t.Errorf("packets %+v then %+v", s1.Packets, s2.Packets)
	}
	md, err := os.ReadFile(filepath.Join(w1, tables.MarkdownFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Capture", "2 by the kernel", "Packets were lost"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("window 1 report.md lacks %q", s)
		}
	}
}

// TestLiveKeep rotates through empty windows on the clock alone and keeps
// the newest.
func TestLiveKeep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: t0.Add(100 * time.Millisecond)}
	_, dir, stop := startFakeLive(t, clock, "--rotate", "1s", "--keep", "2", "--no-report")
	for i := 1; i <= 4; i++ {
		clock.set(t0.Add(time.Duration(i)*time.Second + pipeline.RotateGrace))
		waitFor(t, filepath.Join(dir, t0.Add(time.Duration(i-1)*time.Second).Format(pipeline.WindowLayout)))
	}
	// A jump of many windows skips the ones nobody captured in.
	clock.set(t0.Add(time.Minute + 500*time.Millisecond))
	waitFor(t, filepath.Join(dir, t0.Add(4*time.Second).Format(pipeline.WindowLayout)))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{t0.Add(4 * time.Second).Format(pipeline.WindowLayout), t0.Add(time.Minute).Format(pipeline.WindowLayout)}
	if got := windowDirs(t, dir); !slices.Equal(got, want) {
		t.Errorf("windows %v, want %v", got, want)
	}
}

// TestLiveStops checks --count and --duration: the capture stops by
// itself and its last window is written.
func TestLiveStops(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cli, srv := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), 5000), netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), 53)
	tests := []struct {
		name   string
		args   []string
		frames int
		clock  time.Duration // where the clock goes after the frames
		want   uint64        // packets in the window
	}{
		{"count", []string{"--count", "3"}, 5, 0, 3},
		{"duration", []string{"--duration", "5s"}, 2, 6 * time.Second, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: t0.Add(time.Second)}
			src, dir, _ := startFakeLive(t, clock, append([]string{"--rotate", "60s", "--no-report"}, tt.args...)...)
			var frames []reader.Frame
			for i := range tt.frames {
				frames = append(frames, frame(t0.Add(time.Second+time.Duration(i)*time.Millisecond), cli, srv, -1, 20))
			}
			src.send(frames...)
			clock.set(t0.Add(time.Second + tt.clock))
			waitFor(t, filepath.Join(dir, pipeline.LatestLink))
			if s := readLiveSummary(t, filepath.Join(dir, pipeline.LatestLink)); s.Packets.Read != tt.want {
				t.Errorf("read %d packets, want %d", s.Packets.Read, tt.want)
			}
		})
	}
}

// TestLiveMaxFlows bounds a live capture's flow table: new flows push out
// the longest silent ones, which end as evicted in the window's records
// and summary, and no packet is lost.
func TestLiveMaxFlows(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	clock := &fakeClock{t: at(0.5)}
	src, dir, stop := startFakeLive(t, clock, "--rotate", "10s", "--max-flows", "2", "--no-report")
	dns := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.3"), 53)
	for i := range 5 {
		client := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), uint16(5000+i))
		src.send(frame(at(1+float64(i)), client, dns, -1, 30))
	}
	clock.set(at(7))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	w := filepath.Join(dir, "20260101T000000Z")
	s := readLiveSummary(t, w)
	if s.Options.MaxFlows != 2 || s.Flows.ByEnd["evicted"] != 3 || s.Flows.Total != 5 {
		t.Errorf("max_flows %d, flows %+v; want 3 of 5 evicted", s.Options.MaxFlows, s.Flows)
	}
	db := openDuckDB(t)
	if n := queryInt(t, db, fmt.Sprintf("SELECT sum(packets_fwd) FROM '%s/flows.parquet' WHERE end_reason = 'evicted'", w)); n != 3 {
		t.Errorf("%d packets in evicted rows, want 3", n)
	}
}
