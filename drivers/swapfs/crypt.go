package swapfs

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrCorrupt is the error of a read whose data fails authentication: the
// device returned something the swap manager did not write there last
// (a changed bit, a moved or swapped sector, an old write replayed).
var ErrCorrupt = errors.New("swapfs: data failed authentication")

var errWornOut = errors.New("swapfs: unit rewritten 2^32-1 times under one key")

const (
	// chunkBytes is the size an encrypted unit aims at: one unit is
	// chunkBytes rounded up to whole sectors.
	chunkBytes = 4096
	// tagBytes is Poly1305's tag, stored at the end of each unit.
	tagBytes = chacha20poly1305.Overhead
	// maxUnits bounds the per-unit counters to 1 GiB of RAM (1 TiB of
	// encrypted swap).
	maxUnits = 1 << 28
)

// WithEncryption makes the FS encrypt and authenticate everything it
// writes, under a fresh random key that exists only in its memory: see
// the package documentation. It rounds the blocking factor up to whole
// 4 KiB units.
func WithEncryption() Option {
	return func(c *config) { c.encrypt = true }
}

// sealer encrypts and authenticates units: ChaCha20-Poly1305 (RFC 8439)
// with the nonce (physical unit number, write counter). The counters live
// only in RAM.
type sealer struct {
	aead cipher.AEAD
	ctr  []uint32 // per physical unit: writes so far; 0: never written
}

func newSealer(units int64) (*sealer, error) {
	if units > maxUnits {
		return nil, fmt.Errorf("%w: %d encrypted units", errTooManyBlocks, units)
	}
	var key [chacha20poly1305.KeySize]byte
	// crypto/rand never fails in Go 1.24 and later (it crashes the
	// program rather than return weak randomness).
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("swapfs: key: %w", err)
	}
	aead, err := chacha20poly1305.New(key[:])
	clear(key[:]) // the AEAD holds its own copy; keep no other
	if err != nil {
		return nil, fmt.Errorf("swapfs: key: %w", err)
	}
	return &sealer{aead: aead, ctr: make([]uint32, units)}, nil
}

// nonce writes the nonce of unit pu's write number ctr into buf's scratch.
func (s *sealer) nonce(buf *ioBuf, pu int64, ctr uint32) []byte {
	binary.BigEndian.PutUint64(buf.nonce[0:8], uint64(pu))
	binary.BigEndian.PutUint32(buf.nonce[8:12], ctr)
	return buf.nonce[:]
}

// seal encrypts payload, the unit's file data, into unit pu: u is the
// whole unit, payload followed by the tag. payload is either u's first
// len(u)-tagBytes bytes (sealed in place) or memory that does not overlap
// u (sealed on the way, saving a copy). seal counts the write first, so
// that no two writes of a unit, even one whose write failed, share a
// nonce.
func (s *sealer) seal(buf *ioBuf, pu int64, u, payload []byte) error {
	if s.ctr[pu] == math.MaxUint32 {
		return errWornOut
	}
	s.ctr[pu]++
	s.aead.Seal(u[:0], s.nonce(buf, pu, s.ctr[pu]), payload, nil)
	return nil
}

// open authenticates unit pu, held in u, and decrypts its payload into
// dst, which is either u itself (opened in place) or len(u)-tagBytes bytes
// that do not overlap u. It returns the payload. The tag is checked
// before any plaintext is released; on failure dst holds zeros, never
// unauthenticated data.
func (s *sealer) open(buf *ioBuf, pu int64, dst, u []byte) ([]byte, error) {
	pt, err := s.aead.Open(dst[:0], s.nonce(buf, pu, s.ctr[pu]), u, nil)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}
