// Command gen prints test vectors for pdebug/gosort.py: for each case, the input, the
// comparator kind, the permutation Go's sort.Slice leaves (input indexes in output
// order) and how many times it called less. See README.md for how to run it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
)

type vector struct {
	Name  string `json:"name"`
	Kind  string `json:"kind"`
	Input any    `json:"input"`
	Perm  []int  `json:"perm"`
	Calls int    `json:"calls"`
	Lies  int    `json:"lies,omitempty"`
}

// rng is a small splitmix64 generator, so the inputs do not depend on math/rand.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// run sorts the indexes 0..n-1 with less over the input and records the permutation.
func run(name, kind string, input any, n int, less func(a, b int) bool) vector {
	perm := make([]int, n)
	for i := range perm {
		perm[i] = i
	}
	calls := 0
	sort.Slice(perm, func(i, j int) bool {
		calls++
		return less(perm[i], perm[j])
	})
	return vector{Name: name, Kind: kind, Input: input, Perm: perm, Calls: calls}
}

func ints(name string, xs []int) vector {
	return run(name, "int", xs, len(xs), func(a, b int) bool { return xs[a] < xs[b] })
}

// scramble is a comparator that is no order at all: a fixed hash of the two values.
func scramble(x, y int) bool {
	h := uint64(x)*0x9e3779b97f4a7c15 ^ uint64(y)*0xc2b2ae3d27d4eb4f
	h ^= h >> 29
	return h%3 == 0
}

// atoi mirrors istioctl's route comparator input: ok only for a strconv.Atoi success.
func atoi(s string) (int, bool) {
	v, err := strconv.Atoi(s)
	return v, err == nil
}

func routes(name string, xs []string) vector {
	return run(name, "route", xs, len(xs), func(a, b int) bool {
		i, ok := atoi(xs[a])
		if !ok {
			return false
		}
		j, ok := atoi(xs[b])
		if !ok {
			return false
		}
		return i < j
	})
}

// listener is (port, address, type), compared like istioctl's listener summary.
type listener struct {
	Port uint32
	Addr string
	Type string
}

func (l listener) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{l.Port, l.Addr, l.Type})
}

func listeners(name string, xs []listener) vector {
	return run(name, "listener", xs, len(xs), func(a, b int) bool {
		if xs[a].Port != xs[b].Port {
			return xs[a].Port < xs[b].Port
		}
		if xs[a].Addr != xs[b].Addr {
			return xs[a].Addr < xs[b].Addr
		}
		return xs[a].Type < xs[b].Type
	})
}

// destinations sorts filter-chain destinations descending, like istioctl's verbose table.
func destinations(name string, xs []string) vector {
	return run(name, "dest_desc", xs, len(xs), func(a, b int) bool { return xs[a] > xs[b] })
}

func main() {
	r := rng(20240601)
	var out []vector

	sizes := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 50, 100, 257, 1000}
	for _, n := range sizes {
		for _, distinct := range []int{3, n/2 + 1} {
			xs := make([]int, n)
			for i := range xs {
				xs[i] = r.intn(distinct)
			}
			out = append(out, ints(fmt.Sprintf("random-n%d-d%d", n, distinct), xs))
		}
	}

	for _, n := range []int{13, 20, 50, 100, 257, 1000} {
		sorted, reversed, saw, equal, organ, nearly := make([]int, n), make([]int, n),
			make([]int, n), make([]int, n), make([]int, n), make([]int, n)
		for i := 0; i < n; i++ {
			sorted[i] = i / 3 // ascending with runs of three equal values
			reversed[i] = (n - i) / 3
			saw[i] = i % 7
			equal[i] = 42
			organ[i] = i
			if n-1-i < i {
				organ[i] = n - 1 - i
			}
			nearly[i] = i
		}
		for k := 0; k < 3; k++ { // a few far-apart swaps: partial insertion sort territory
			i, j := r.intn(n), r.intn(n)
			nearly[i], nearly[j] = nearly[j], nearly[i]
		}
		out = append(out,
			ints(fmt.Sprintf("sorted-n%d", n), sorted),
			ints(fmt.Sprintf("reversed-n%d", n), reversed),
			ints(fmt.Sprintf("sawtooth-n%d", n), saw),
			ints(fmt.Sprintf("equal-n%d", n), equal),
			ints(fmt.Sprintf("organpipe-n%d", n), organ),
			ints(fmt.Sprintf("nearly-sorted-n%d", n), nearly),
		)
	}

	// Comparators that are no order: enough bad pivots to reach the heapsort fallback.
	for _, n := range []int{13, 50, 300} {
		xs := make([]int, n)
		for i := range xs {
			xs[i] = i
		}
		out = append(out, run(fmt.Sprintf("always-less-n%d", n), "always", xs, n,
			func(a, b int) bool { return true }))
		out = append(out, run(fmt.Sprintf("scramble-n%d", n), "scramble", xs, n,
			func(a, b int) bool { return scramble(xs[a], xs[b]) }))
	}

	// A non-strict comparator (>= where > was meant) on values with many ties.
	for _, c := range [][2]int{{50, 2}, {300, 3}, {300, 7}} {
		xs := make([]int, c[0])
		for i := range xs {
			xs[i] = i % c[1]
		}
		out = append(out, run(fmt.Sprintf("non-strict-n%d-m%d", c[0], c[1]), "ge", xs, c[0],
			func(a, b int) bool { return xs[a] >= xs[b] }))
	}

	// Claims "less" for the first 5000 calls, then tells the truth: the lies use up
	// the bad-pivot budget, so the heapsort fallback runs with a real order.
	{
		xs := make([]int, 300)
		for i := range xs {
			xs[i] = r.intn(100)
		}
		lies, seen := 5000, 0
		v := run("lie-then-honest-n300", "lie", xs, len(xs), func(a, b int) bool {
			seen++
			return seen <= lies || xs[a] < xs[b]
		})
		v.Lies = lies
		out = append(out, v)
	}

	// istioctl's route comparator: only two numeric names are ordered.
	names := []string{"80", "http.8080", "15010", "9080", "InboundPassthroughCluster", "443",
		"-7", "+12", "007", "1_000", " 5", "inbound|8080||", "9999999999999999999", "15014",
		"9080", "abc", "3000", "", "8443", "outbound|9080||reviews.default.svc.cluster.local"}
	for _, n := range []int{5, 12, 13, 20} {
		out = append(out, routes(fmt.Sprintf("routes-n%d", n), names[:n]))
	}
	for _, n := range []int{60, 200} {
		xs := make([]string, n)
		for i := range xs {
			if r.intn(3) == 0 {
				xs[i] = fmt.Sprintf("name-%d", r.intn(50))
			} else {
				xs[i] = strconv.Itoa(r.intn(40) * 100)
			}
		}
		out = append(out, routes(fmt.Sprintf("routes-mixed-n%d", n), xs))
	}

	// Key tuples with frequent ties (the listener comparator).
	ports := []uint32{0, 80, 443, 15001, 15006}
	addrs := []string{"", "0.0.0.0", "10.96.0.1"}
	types := []string{"HTTP", "TCP", "UNKNOWN"}
	for _, n := range []int{12, 13, 40, 300} {
		xs := make([]listener, n)
		for i := range xs {
			xs[i] = listener{ports[r.intn(len(ports))], addrs[r.intn(len(addrs))], types[r.intn(len(types))]}
		}
		out = append(out, listeners(fmt.Sprintf("listeners-n%d", n), xs))
	}

	// Descending destinations with ties (one listener's filter chains).
	dests := []string{"Cluster: inbound|8080||", "InboundPassthroughCluster", "Cluster: inbound|9080||",
		"Non-HTTP/Non-TCP"}
	for _, n := range []int{12, 13, 30} {
		xs := make([]string, n)
		for i := range xs {
			xs[i] = dests[r.intn(len(dests))]
		}
		out = append(out, destinations(fmt.Sprintf("dests-n%d", n), xs))
	}

	// Inputs of the view-level tests in tests/test_gosort.py.
	out = append(out, routes("view-routes", []string{"9080", "inbound|8080||", "80", "15010",
		"InboundPassthroughCluster", "443", "8080", "istio-ingress", "15014", "9090", "3000",
		"outbound|9080||reviews.default.svc.cluster.local", "15020", "81", "10", "9443"}))
	out = append(out, listeners("view-listeners", []listener{
		{15006, "0.0.0.0", "TCP"}, {80, "0.0.0.0", "HTTP"}, {15001, "0.0.0.0", "TCP"},
		{80, "0.0.0.0", "HTTP"}, {443, "10.96.0.1", "TCP"}, {80, "0.0.0.0", "HTTP"},
		{15006, "0.0.0.0", "TCP"}, {443, "10.96.0.1", "TCP"}, {80, "0.0.0.0", "HTTP"},
		{9080, "0.0.0.0", "HTTP"}, {443, "10.96.0.1", "TCP"}, {80, "0.0.0.0", "HTTP"},
		{15006, "0.0.0.0", "TCP"}, {80, "0.0.0.0", "TCP"}, {443, "10.96.0.1", "TCP"},
		{80, "0.0.0.0", "HTTP"}}))
	out = append(out, destinations("view-chains", []string{
		"Cluster: inbound|8080||", "InboundPassthroughCluster", "Cluster: inbound|9080||",
		"Cluster: inbound|8080||", "InboundPassthroughCluster", "Cluster: inbound|8080||",
		"Cluster: inbound|9080||", "InboundPassthroughCluster", "Cluster: inbound|8080||",
		"Cluster: inbound|9080||", "InboundPassthroughCluster", "Cluster: inbound|8080||",
		"Cluster: inbound|9080||", "InboundPassthroughCluster", "Cluster: inbound|8080||"}))

	fmt.Printf("{\n  \"go_version\": %q,\n  \"cases\": [\n", runtime.Version())
	for i, v := range out {
		b, err := json.Marshal(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		sep := ","
		if i == len(out)-1 {
			sep = ""
		}
		fmt.Printf("    %s%s\n", b, sep)
	}
	fmt.Println("  ]\n}")
}
