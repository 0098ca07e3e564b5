// The Go peers of weft's benchmarks, for the same-run comparisons the targets are set
// against (benches/README.md, "Go peers"). Each figure is the median of several runs (to set
// next to criterion's mean) and names the weft bench it stands next to.
//
//	go run . [bench...]        # benches: spawn_join yield pingpong mpmc select million held_worker
//
// Run it with GOMAXPROCS=2 on the 2-core machine (`benches/go/run` does), so Go has as many
// Ps as weft has workers. The yield benches and the `_one_p` ping-pong pin themselves to one
// P (`runtime.GOMAXPROCS(1)` for their duration), to compare with weft's same-worker benches.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const reps = 7

// median runs f reps times and returns the median of its per-operation results.
func median(f func() float64) float64 {
	v := make([]float64, reps)
	for i := range v {
		v[i] = f()
	}
	sort.Float64s(v)
	return v[reps/2]
}

func report(name string, v float64, unit string) {
	fmt.Printf("go/%-28s %10.1f %s\n", name, v, unit)
}

// onOneP runs f with GOMAXPROCS=1 (the same-worker comparisons).
func onOneP(f func() float64) float64 {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	return f()
}

// spawn_join/weft_in_coroutine/100k: a goroutine starts 100k trivial goroutines and waits for
// all of them (a WaitGroup is Go's join).
func spawnJoin() float64 {
	const n = 100_000
	res := make(chan float64)
	go func() {
		start := time.Now()
		var wg sync.WaitGroup
		wg.Add(n)
		for i := 0; i < n; i++ {
			go wg.Done()
		}
		wg.Wait()
		res <- float64(time.Since(start).Nanoseconds()) / n
	}()
	return <-res
}

// yield/weft_solo and yield/weft_pair_same_worker: runtime.Gosched on one P, alone or with a
// second goroutine taking turns.
func yieldN(goroutines int) float64 {
	const n = 2_000_000
	var wg sync.WaitGroup
	wg.Add(goroutines)
	start := time.Now()
	for g := 0; g < goroutines; g++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(goroutines*n)
}

// pingpong/weft_same_worker: one round trip over two unbuffered channels.
func pingPong() float64 {
	const n = 1_000_000
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()
	ping <- 0
	<-pong
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		if <-pong != i+1 {
			panic("pingpong: wrong reply")
		}
	}
	d := float64(time.Since(start).Nanoseconds()) / n
	close(ping)
	return d
}

// mpmc_4p4c: 4 producers and 4 consumers on a channel of capacity 1024, 1,000,000 messages,
// every one counted. Returns ns per message (the caller turns the median into M msg/s).
func mpmc() float64 {
	const n = 1_000_000
	c := make(chan uint64, 1024)
	var prod, cons sync.WaitGroup
	var got, sum uint64
	gate := make(chan struct{})
	for p := 0; p < 4; p++ {
		prod.Add(1)
		go func(p int) {
			<-gate
			for i := p; i < n; i += 4 {
				c <- uint64(i)
			}
			prod.Done()
		}(p)
	}
	for q := 0; q < 4; q++ {
		cons.Add(1)
		go func() {
			var k, s uint64
			<-gate
			for v := range c {
				k++
				s += v
			}
			atomic.AddUint64(&got, k)
			atomic.AddUint64(&sum, s)
			cons.Done()
		}()
	}
	start := time.Now()
	close(gate)
	prod.Wait()
	close(c)
	cons.Wait()
	d := time.Since(start)
	if got != n || sum != n*(n-1)/2 {
		panic("mpmc: lost or duplicated messages")
	}
	return d.Seconds() * 1e9 / n // ns per message
}

// select/{2,8}: one select over N channels of capacity 64, a producer feeding them round
// robin.
func selectN(k int) float64 {
	const n = 1_000_000
	chans := make([]chan uint64, k)
	for i := range chans {
		chans[i] = make(chan uint64, 64)
	}
	go func() {
		for i := 0; i < n; i++ {
			chans[i%k] <- uint64(i)
		}
	}()
	var sum uint64
	start := time.Now()
	for i := 0; i < n; i++ {
		var v uint64
		if k == 2 {
			select {
			case v = <-chans[0]:
			case v = <-chans[1]:
			}
		} else {
			select {
			case v = <-chans[0]:
			case v = <-chans[1]:
			case v = <-chans[2]:
			case v = <-chans[3]:
			case v = <-chans[4]:
			case v = <-chans[5]:
			case v = <-chans[6]:
			case v = <-chans[7]:
			}
		}
		sum += v
	}
	d := float64(time.Since(start).Nanoseconds()) / n
	if sum != n*(n-1)/2 {
		panic("select: lost or duplicated messages")
	}
	return d
}

// million: examples/million.rs part 1 in Go: a million goroutines each sleeping one second.
func million() {
	const n = 1_000_000
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			time.Sleep(time.Second)
			wg.Done()
		}()
	}
	spawned := time.Since(start)
	wg.Wait()
	report("million/spawned", spawned.Seconds(), "s")
	report("million/all_finished", time.Since(start).Seconds(), "s")
	report("million/peak_memory", float64(vmHWM())/1024, "MiB (VmHWM)")
}

func vmHWM() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			var kib int
			fmt.Sscanf(strings.TrimSpace(l[6:]), "%d", &kib)
			return kib
		}
	}
	return 0
}

// examples/held_worker.rs: on one P, a goroutine blocks its thread in a system call for
// 500 ms (syscall.Nanosleep, Go's twin of a leftover std sleep); how long until a goroutine
// spawned meanwhile starts (sysmon's retake and handoffp), in µs.
func heldWorker() float64 {
	var t0 time.Time
	entering := make(chan struct{})
	done := make(chan struct{})
	go func() {
		t0 = time.Now()
		close(entering)
		ts := syscall.NsecToTimespec((500 * time.Millisecond).Nanoseconds())
		syscall.Nanosleep(&ts, nil)
		close(done)
	}()
	// Woken by the close, this goroutine can run only once the P has been taken from the
	// thread in the system call.
	<-entering
	first := time.Since(t0)
	<-done
	return float64(first.Nanoseconds()) / 1e3
}

func main() {
	benches := os.Args[1:]
	if len(benches) == 0 {
		benches = []string{"spawn_join", "yield", "pingpong", "mpmc", "select", "million"}
	}
	fmt.Printf("go %s, GOMAXPROCS=%d\n", runtime.Version(), runtime.GOMAXPROCS(0))
	for _, b := range benches {
		switch b {
		case "spawn_join":
			report("spawn_join/100k", median(spawnJoin), "ns/task")
		case "yield":
			report("yield/solo_one_p", onOneP(func() float64 { return median(func() float64 { return yieldN(1) }) }), "ns/yield")
			report("yield/pair_one_p", onOneP(func() float64 { return median(func() float64 { return yieldN(2) }) }), "ns/yield")
		case "pingpong":
			report("pingpong", median(pingPong), "ns/round trip")
			report("pingpong_one_p", onOneP(func() float64 { return median(pingPong) }), "ns/round trip")
		case "mpmc":
			report("mpmc_4p4c", 1e3/median(mpmc), "M msg/s")
			report("mpmc_4p4c_one_p", onOneP(func() float64 { return 1e3 / median(mpmc) }), "M msg/s")
		case "select":
			report("select/2", median(func() float64 { return selectN(2) }), "ns/select")
			report("select/8", median(func() float64 { return selectN(8) }), "ns/select")
		case "million":
			million()
		case "held_worker":
			report("held_worker/first_started_one_p", onOneP(func() float64 { return median(heldWorker) }), "µs")
		default:
			fmt.Fprintf(os.Stderr, "unknown bench %q\n", b)
			os.Exit(2)
		}
	}
}
