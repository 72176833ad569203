//go:build linux && cgo

package cache

// #include <malloc.h>
import "C"

// trimCHeap asks the C allocator, which SQLite uses, to hand freed pages
// back to the system; otherwise they stay resident in its per-thread
// arenas for the life of the process.
func trimCHeap() { C.malloc_trim(0) }
