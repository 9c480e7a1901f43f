package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hubPrefix starts the name of every namespace, bridge and veth a netHub
// creates: rhtt<pid> followed by one letter and the member ID. Interface
// names must fit in 15 bytes; with a pid of up to 7 digits they take 13.
const hubPrefix = "rhtt"

// hubNameRE matches the names hubNames gives, capturing the pid.
var hubNameRE = regexp.MustCompile(`^` + hubPrefix + `([0-9]+)[bnv][0-9]*$`)

// ipTimeout bounds one ip(8) command.
const ipTimeout = 10 * time.Second

// netHub is a bridge in the root network namespace with one network
// namespace per member hanging off it by a veth pair:
//
//	root ns:  bridge rhtt<pid>b 10.213.X.254/24
//	            |-- rhtt<pid>v1 <veth> rhtt<pid>p1 10.213.X.1/24 in ns rhtt<pid>n1
//	            |-- rhtt<pid>v2 <veth> rhtt<pid>p2 10.213.X.2/24 in ns rhtt<pid>n2
//	            '-- ...
//
// X is random. The test process reaches every member through the bridge;
// cutting member i takes rhtt<pid>vi down. Everything is removed in the
// test's cleanup, also when setting up failed half-way.
type netHub struct {
	name   string // rhtt<pid>
	subnet string // "10.213.X", without the last octet
	size   int
}

// newNetHub builds a hub for size members or fails the test with ip's
// output: a kernel that refuses network namespaces is a failure, not a
// reason to skip.
func newNetHub(t *testing.T, size int) *netHub {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("ip (iproute2) is needed to build network namespaces (.ci/run installs it): %v", err)
	}
	h := &netHub{name: hubPrefix + strconv.Itoa(os.Getpid()), size: size}
	removeLeftovers(t)
	subnet, err := freeSubnet()
	if err != nil {
		t.Fatal(err)
	}
	h.subnet = subnet
	t.Cleanup(func() {
		if err := h.close(); err != nil {
			t.Errorf("removing network namespaces: %v", err)
		}
	})
	for id := range uint64(size) {
		if err := ip("netns", "add", h.ns(id+1)); err != nil {
			t.Fatalf("the kernel refused a network namespace (root and CONFIG_NET_NS are needed): %v", err)
		}
	}
	if err := h.build(); err != nil {
		t.Fatalf("building the network: %v", err)
	}
	return h
}

// build creates the bridge and the veth pairs; the namespaces exist.
func (h *netHub) build() error {
	br := h.bridge()
	steps := [][]string{
		{"link", "add", br, "type", "bridge"},
		{"addr", "add", h.subnet + ".254/24", "dev", br},
		{"link", "set", br, "up"},
	}
	for id := range uint64(h.size) {
		id++
		ns, p, v := h.ns(id), h.nsVeth(id), h.rootVeth(id)
		steps = append(steps,
			[]string{"link", "add", v, "type", "veth", "peer", "name", p, "netns", ns},
			[]string{"link", "set", v, "master", br, "up"},
			[]string{"-n", ns, "addr", "add", h.host(id) + "/24", "dev", p},
			[]string{"-n", ns, "link", "set", p, "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

func (h *netHub) bridge() string            { return h.name + "b" }
func (h *netHub) ns(id uint64) string       { return h.name + "n" + strconv.FormatUint(id, 10) }
func (h *netHub) rootVeth(id uint64) string { return h.name + "v" + strconv.FormatUint(id, 10) }
func (h *netHub) nsVeth(id uint64) string   { return h.name + "p" + strconv.FormatUint(id, 10) }

// host returns member id's address, inside its namespace.
func (h *netHub) host(id uint64) string { return h.subnet + "." + strconv.FormatUint(id, 10) }

// exec returns the command prefix that runs a program in member id's
// namespace. ip netns exec execs the program, so signals reach it.
func (h *netHub) exec(id uint64) []string { return []string{"ip", "netns", "exec", h.ns(id)} }

// cut takes member id's link to the bridge down: its namespace is then
// unreachable and reaches nobody. restore brings it back.
func (h *netHub) cut(id uint64) error     { return ip("link", "set", h.rootVeth(id), "down") }
func (h *netHub) restore(id uint64) error { return ip("link", "set", h.rootVeth(id), "up") }

// close removes the veths, the bridge and the namespaces, whichever
// exist, and reports anything of the hub's still there afterwards.
// Members must have exited: a namespace lives on while a process is in it.
func (h *netHub) close() error {
	links, netns, err := hubObjects()
	if err != nil {
		return err
	}
	var errs []error
	for _, l := range links {
		if strings.HasPrefix(l, h.name) {
			errs = append(errs, ip("link", "del", l)) // a veth takes its peer along
		}
	}
	for _, n := range netns {
		if strings.HasPrefix(n, h.name) {
			errs = append(errs, ip("netns", "del", n))
		}
	}
	return errors.Join(errs...)
}

// removeLeftovers removes namespaces and links named like a hub's whose
// test process is gone (crashed before its cleanup ran) or is this one
// (an earlier -count iteration). Those of live test processes stay.
func removeLeftovers(t *testing.T) {
	t.Helper()
	links, netns, err := hubObjects()
	if err != nil {
		t.Fatal(err)
	}
	ours := func(name string) bool {
		m := hubNameRE.FindStringSubmatch(name)
		if m == nil {
			return false
		}
		if m[1] == strconv.Itoa(os.Getpid()) {
			return true
		}
		_, err := os.Stat("/proc/" + m[1])
		return errors.Is(err, os.ErrNotExist)
	}
	for _, l := range links {
		if ours(l) {
			t.Logf("removing leftover link %s: %v", l, ip("link", "del", l))
		}
	}
	for _, n := range netns {
		if ours(n) {
			t.Logf("removing leftover network namespace %s: %v", n, ip("netns", "del", n))
		}
	}
}

// hubObjects lists the root namespace's links and the named network
// namespaces whose names start with hubPrefix.
func hubObjects() (links, netns []string, err error) {
	out, err := ipOutput("-o", "link", "show")
	if err != nil {
		return nil, nil, err
	}
	for line := range strings.Lines(out) {
		// "7: rhtt123v1@if8: <BROADCAST,...>"
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "@")
		if strings.HasPrefix(name, hubPrefix) {
			links = append(links, name)
		}
	}
	out, err = ipOutput("netns", "list")
	if err != nil {
		return nil, nil, err
	}
	for line := range strings.Lines(out) {
		// "rhtt123n1 (id: 0)" or "rhtt123n1"
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(f[0], hubPrefix) {
			netns = append(netns, f[0])
		}
	}
	return links, netns, nil
}

// freeSubnet picks a random 10.213.X with no address or route on it in
// the root namespace.
func freeSubnet() (string, error) {
	addrs, err := ipOutput("-4", "addr", "show")
	if err != nil {
		return "", err
	}
	routes, err := ipOutput("-4", "route", "show", "table", "all")
	if err != nil {
		return "", err
	}
	for range 50 {
		s := fmt.Sprintf("10.213.%d", rand.IntN(256))
		if !strings.Contains(addrs, s+".") && !strings.Contains(routes, s+".") {
			return s, nil
		}
	}
	return "", errors.New("no free 10.213.X.0/24 found in 50 tries")
}

// ip runs ip(8) and returns its output in the error if it fails.
func ip(args ...string) error {
	_, err := ipOutput(args...)
	return err
}

func ipOutput(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ipTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("ip %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}
