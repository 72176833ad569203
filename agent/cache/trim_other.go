//go:build !linux || !cgo

package cache

// trimCHeap does nothing where the C allocator cannot be asked to trim.
func trimCHeap() {}
