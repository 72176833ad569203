package maildir

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"crmsync/agent"
)

// TestIndexMatchesMap drives the index and a plain map with the same random
// puts and deletes, rebuilding the table now and then, and checks after
// every step that both agree.
func TestIndexMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	x := newIndex()
	want := map[agent.MessageKey]slot{}
	check := func(step int) {
		t.Helper()
		if x.len() != len(want) {
			t.Fatalf("step %d: len %d, want %d", step, x.len(), len(want))
		}
		seen := 0
		x.each(func(k agent.MessageKey, sl slot) {
			seen++
			if w, ok := want[k]; !ok || w != sl {
				t.Fatalf("step %d: each gave %q %+v, want %+v (present %v)", step, k, sl, w, ok)
			}
		})
		if seen != len(want) {
			t.Fatalf("step %d: each gave %d keys, want %d", step, seen, len(want))
		}
	}
	for step := range 20000 {
		k := agent.MessageKey(fmt.Sprintf("17000%05d.M%dP1.host", rng.IntN(3000), step%7))
		switch r := rng.IntN(10); {
		case r < 6:
			sl := slot{folder: uint16(rng.IntN(3)), suffix: uint8(rng.IntN(4)), cur: rng.IntN(2) == 0, seen: uint32(step)}
			x.put(k, sl)
			want[k] = sl
		case r < 9:
			x.del(k)
			delete(want, k)
		default:
			x.compact(rng.IntN(2) == 0)
		}
		got, ok := x.get(k)
		if w, wok := want[k]; ok != wok || got != w {
			t.Fatalf("step %d: get %q = %+v %v, want %+v %v", step, k, got, ok, w, wok)
		}
		if step%500 == 0 {
			check(step)
		}
	}
	x.compact(true)
	check(-1)
	if len(x.extra) != 0 || x.gone != 0 {
		t.Errorf("after a forced rebuild: %d in the map, %d removed in the table", len(x.extra), x.gone)
	}
}
