package swapfs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
	// tagBytes is AES-GCM's tag, stored at the end of each unit.
	tagBytes = 16
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

// sealer encrypts and authenticates units: AES-256-GCM with the nonce
// (physical unit number, write counter). The counters live only in RAM.
type sealer struct {
	aead cipher.AEAD
	ctr  []uint32 // per physical unit: writes so far; 0: never written
}

func newSealer(units int64) (*sealer, error) {
	if units > maxUnits {
		return nil, fmt.Errorf("%w: %d encrypted units", errTooManyBlocks, units)
	}
	var key [32]byte
	// crypto/rand never fails in Go 1.24 and later (it crashes the
	// program rather than return weak randomness).
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("swapfs: key: %w", err)
	}
	blk, err := aes.NewCipher(key[:])
	clear(key[:]) // the cipher holds its own key schedule; keep no other copy
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead, ctr: make([]uint32, units)}, nil
}

// nonce writes the nonce of unit pu's write number ctr into buf's scratch.
func (s *sealer) nonce(buf *ioBuf, pu int64, ctr uint32) []byte {
	binary.BigEndian.PutUint64(buf.nonce[0:8], uint64(pu))
	binary.BigEndian.PutUint32(buf.nonce[8:12], ctr)
	return buf.nonce[:]
}

// seal encrypts unit pu in place: u holds the unit's payload followed by
// room for the tag. It counts the write first, so that no two writes of a
// unit, even one whose write failed, share a nonce.
func (s *sealer) seal(buf *ioBuf, pu int64, u []byte) error {
	if s.ctr[pu] == math.MaxUint32 {
		return errWornOut
	}
	s.ctr[pu]++
	payload := u[:len(u)-tagBytes]
	s.aead.Seal(payload[:0], s.nonce(buf, pu, s.ctr[pu]), payload, nil)
	return nil
}

// open authenticates and decrypts unit pu in place and returns its
// payload.
func (s *sealer) open(buf *ioBuf, pu int64, u []byte) ([]byte, error) {
	pt, err := s.aead.Open(u[:0], s.nonce(buf, pu, s.ctr[pu]), u, nil)
	if err != nil {
		return nil, ErrCorrupt
	}
	return pt, nil
}
