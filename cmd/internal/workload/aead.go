package workload

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// aead-seal-4K and aead-open-4K: no device at all. They are the cipher
// the encrypted swap manager (swapfs.WithEncryption) runs for every unit
// it writes or reads, alone: ChaCha20-Poly1305 with a 256-bit key, units
// of 4 KiB rounded up to whole sectors, each its data followed by the
// 16-byte tag, and the nonce of the unit's number and write counter.
// Units are sealed and opened in place in a preallocated 1 MiB buffer
// from the device's allocator, as the manager's I/O buffers are. They
// count data bytes, not tags, as the swap workloads count file bytes, so
// that swap-append-64K-enc / aead-seal-4K and swap-read-64K-enc /
// aead-open-4K are what the swap manager keeps of the cipher's speed.

const aeadUnitBytes = 4096

func aeadSeal(e *env) (Result, error) { return aeadRun(e, false) }
func aeadOpen(e *env) (Result, error) { return aeadRun(e, true) }

func aeadRun(e *env, open bool) (Result, error) {
	var key [chacha20poly1305.KeySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return Result{}, fmt.Errorf("key: %w", err)
	}
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return Result{}, fmt.Errorf("key: %w", err)
	}
	ss := e.info.SectorSize
	unit := (aeadUnitBytes + ss - 1) / ss * ss
	buf, err := e.buffer(max(1<<20/unit, 1) * unit)
	if err != nil {
		return Result{}, err
	}
	fillPattern(buf)
	payload := unit - aead.Overhead()
	var nonce [chacha20poly1305.NonceSize]byte
	var ctr uint32
	// sealAll seals every unit of buf in place, under a fresh counter.
	sealAll := func() {
		ctr++
		binary.BigEndian.PutUint32(nonce[8:], ctr)
		for u, off := uint64(0), 0; off < len(buf); u, off = u+1, off+unit {
			binary.BigEndian.PutUint64(nonce[:8], u)
			aead.Seal(buf[off:off], nonce[:], buf[off:off+payload], nil)
		}
	}
	var moved, ops int64
	var elapsed time.Duration
	e.startClock()
	for !e.done(moved) {
		if !open {
			t0 := time.Now()
			sealAll()
			elapsed += time.Since(t0)
		} else {
			// Opening in place leaves plaintext: seal again first, off
			// the clock.
			sealAll()
			t0 := time.Now()
			for u, off := uint64(0), 0; off < len(buf); u, off = u+1, off+unit {
				binary.BigEndian.PutUint64(nonce[:8], u)
				if _, err := aead.Open(buf[off:off], nonce[:], buf[off:off+unit], nil); err != nil {
					return Result{}, fmt.Errorf("open of unit %d: %w", u, err)
				}
			}
			elapsed += time.Since(t0)
		}
		moved += int64(len(buf) / unit * payload)
		ops += int64(len(buf) / unit)
	}
	return Result{Bytes: moved, Ops: ops, Elapsed: elapsed}, nil
}
