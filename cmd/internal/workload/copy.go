package workload

// copy-64K: no device at all. It makes the copies the swap manager makes
// for every byte it streams: 64 KiB pieces between a caller's buffer and
// a 1 MiB stream buffer (Append gathers pieces into one, ReadAt serves
// them out of one). Both buffers come from the device's allocator, as
// the swap workloads' do. Its MiB/s is the bound on swap-append-64K and
// swap-read-64K wherever the copy, not the device, is the slower.

const copyPiece = 64 << 10

func copy64K(e *env) (Result, error) {
	piece, err := e.buffer(copyPiece)
	if err != nil {
		return Result{}, err
	}
	stream, err := e.buffer(1 << 20)
	if err != nil {
		return Result{}, err
	}
	fillPattern(piece)
	var moved, ops int64
	e.startClock()
	for !e.done(moved) {
		// A MiB in, as appends do, then a MiB out, as reads do.
		for off := 0; off < len(stream); off += copyPiece {
			copy(stream[off:off+copyPiece], piece)
		}
		for off := 0; off < len(stream); off += copyPiece {
			copy(piece, stream[off:off+copyPiece])
		}
		moved += 2 << 20
		ops += 2 * int64(len(stream)/copyPiece)
	}
	return e.result(moved, ops), nil
}
