package virtiotest

// lieFor returns the lie to tell about the request that comes after
// served others (on any queue): none for the first Config.LieAfter, then
// q's lie (lieOf), or for LieRandom one of the lies picked with the
// seeded generator.
func (d *Device) lieFor(q *virtqueue, served uint64) Lie {
	l := d.lieOf(q)
	if l == Honest || served < uint64(max(d.cfg.LieAfter, 0)) {
		return Honest
	}
	if l == LieSilent || l == LieIgnoreReset {
		return Honest // held before they get here (holds)
	}
	if l == LieRandom {
		l = Lie(1 + d.rng.Intn(int(LieRandom)-1))
	}
	return l
}

// complete puts the request whose chain starts at head into the used
// ring: honestly, with id head and length the device-writable bytes, or
// as lie says.
func (d *Device) complete(q *virtqueue, head uint16, second int, segs []segment, written uint32, lie Lie) {
	n := uint32(q.num)
	switch lie {
	case LieUsedIDOutOfRange:
		d.pushUsed(q, n+uint32(d.rng.Intn(1<<16)), written, 1)
	case LieUsedIDNotInFlight:
		d.pushUsed(q, d.notInFlight(q, head, second), written, 1)
	case LieUsedLenTooLong:
		d.pushUsed(q, uint32(head), written+1+uint32(d.rng.Intn(4096)), 1)
	case LieUsedIdxJump:
		// Any advance in (num, 65535] is more than the driver can have
		// made available.
		d.pushUsed(q, uint32(head), written, uint16(n+1+uint32(d.rng.Intn(int(0xffff-n)))))
	case LieStatusByte:
		last := segs[len(segs)-1].buf
		store8(last, len(last)-1, byte(blkSUnsupp+1+d.rng.Intn(0xff-blkSUnsupp)))
		d.pushUsed(q, uint32(head), written, 1)
	case LieDoubleComplete:
		d.pushUsed(q, uint32(head), written, 1)
		d.pushUsed(q, uint32(head), written, 1)
	default:
		d.pushUsed(q, uint32(head), written, 1)
	}
}

// notInFlight picks a descriptor index that is not the head of any chain
// the driver has in flight. The chain's own second descriptor is the
// safest such index: the driver cannot reuse it before this request
// completes. A one-descriptor chain (an indirect table) has none; then any
// index that is not the head of an entry still in the available ring
// will do, and if there is no such index the id is out of range instead.
func (d *Device) notInFlight(q *virtqueue, head uint16, second int) uint32 {
	if second >= 0 {
		return uint32(second)
	}
	availIdx := load16(q.avail, 2)
	start := uint16(d.rng.Intn(int(q.num)))
	for k := uint16(0); k < q.num; k++ {
		c := (start + k) % q.num
		if c == head {
			continue
		}
		pending := false
		for i := q.lastAvail; i != availIdx; i++ {
			if get16(q.avail[4+2*uint32(i%q.num):]) == c {
				pending = true
				break
			}
		}
		if !pending {
			return uint32(c)
		}
	}
	return uint32(q.num)
}

// holds reports whether the next request on q is to be taken and never
// completed: LieSilent and LieIgnoreReset, after Config.LieAfter
// honest answers.
func (d *Device) holds(q *virtqueue) bool {
	l := d.lieOf(q)
	return (l == LieSilent || l == LieIgnoreReset) && d.requests.Load() >= uint64(max(d.cfg.LieAfter, 0))
}

// lieOf is queue q's lie: Config.QueueLies[q], or Config.Lie.
func (d *Device) lieOf(q *virtqueue) Lie {
	if q.index < len(d.cfg.QueueLies) {
		return d.cfg.QueueLies[q.index]
	}
	return d.cfg.Lie
}
