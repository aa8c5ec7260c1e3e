//go:build tamago && amd64

package microvm

import (
	"math/bits"
	_ "unsafe"

	"github.com/usbarmory/tamago/amd64"

	"github.com/tamaswap/tamaswap/board/x86"
)

// 8254 Programmable Interval Timer (Intel 82C54 datasheet).
const (
	pitHz      = 1193182
	pitCh0     = 0x40
	pitCommand = 0x43

	pitLatchCh0     = 0x00 // counter latch command, channel 0
	pitCh0Mode2LoHi = 0x34 // channel 0, lobyte/hibyte, mode 2 (rate generator), binary
	pitCh0Mode0LoHi = 0x30 // channel 0, lobyte/hibyte, mode 0 (interrupt on terminal count)
	picMasterIMR    = 0x21 // 8259A OCW1
	picSlaveIMR     = 0xa1
)

// MC146818 real-time clock (CMOS) registers.
const (
	cmosIndex = 0x70
	cmosData  = 0x71

	rtcSeconds = 0x00
	rtcMinutes = 0x02
	rtcHours   = 0x04
	rtcDay     = 0x07
	rtcMonth   = 0x08
	rtcYear    = 0x09
	rtcRegA    = 0x0a
	rtcRegB    = 0x0b
	rtcCentury = 0x32

	rtcAUIP = 1 << 7 // update in progress
	rtcB24h = 1 << 1
	rtcBBin = 1 << 2 // binary, not BCD
)

// clock turns TSC ticks into nanoseconds since the Unix epoch:
// base + (tsc - tsc0) * mult / 2^32. Until calibration one tick is one
// nanosecond, so time still moves forward.
var clock = struct {
	tsc0 uint64
	mult uint64
	base int64
	hz   uint64
	src  string
}{mult: 1 << 32, src: "none"}

// lapicHz is the local APIC timer's rate with divide-by-1, measured in
// the same window as the TSC (QEMU's is 1 GHz).
var lapicHz uint64

// nanotime is the runtime's clock (goos.Nanotime): it must not allocate.
//
//go:linkname nanotime runtime/goos.Nanotime
//go:nosplit
func nanotime() int64 {
	if kvm {
		return AMD64.GetTime()
	}
	hi, lo := bits.Mul64(x86.TSC()-clock.tsc0, clock.mult)
	return clock.base + int64(hi<<32|lo>>32)
}

// TSCFrequency reports the calibrated TSC rate in Hz and what it was
// calibrated against ("pit", "rtc", "kvm" or "none").
func TSCFrequency() (hz uint64, source string) {
	if kvm {
		return uint64(AMD64.Freq()), "kvm"
	}
	return clock.hz, clock.src
}

// calibrate measures the TSC against the PIT, or the RTC where there is no
// PIT, then sets the clock to the RTC's date and time (to the second).
// Under TCG QEMU's TSC follows
// the host's TSC and its PIT and RTC follow host time, so one measurement
// holds for the whole run.
func calibrate() {
	startLAPIC()
	hz, apic, ok := calibratePIT()
	src := "pit"
	if !ok {
		hz, apic, ok = calibrateRTC()
		src = "rtc"
	}
	if !ok || hz == 0 {
		// Nothing to measure against: assume 1 GHz and say so.
		print("microvm: no PIT or RTC to calibrate the TSC against, assuming 1 GHz\n")
		hz, apic, src = 1e9, 1e9, "none"
	}
	lapicHz = apic
	lapicRegs.Write32(lapicInitialCount, 0) // stop it: idle arms it when needed
	now := x86.TSC()
	clock.base = nanotime()
	if t, ok := rtcTime(); ok {
		clock.base = t
	}
	clock.tsc0 = now
	clock.mult = (1e9 << 32) / hz
	clock.hz = hz
	clock.src = src
}

// LAPIC timer registers (Intel SDM Vol. 3A §10.5.4).
const (
	lapicSVR          = 0xf0
	lapicSVREnable    = 1 << 8
	lapicLVTTimer     = 0x320
	lapicLVTMasked    = 1 << 16
	lapicInitialCount = 0x380
	lapicCurrentCount = 0x390
	lapicDivideConfig = 0x3e0
	lapicDivideBy1    = 0b1011
)

// lapicRegs is set by calibrate: Init runs before package initialisers.
var lapicRegs *x86.MMIO

// startLAPIC enables the local APIC and starts its timer, masked, counting
// down from 2^32-1 so that calibration can read how fast it goes.
func startLAPIC() {
	lapicRegs = x86.NewMMIO(amd64.LAPIC_BASE, 0x1000)
	lapicRegs.Write32(lapicSVR, lapicSVREnable|wakeVector)
	lapicRegs.Write32(lapicLVTTimer, lapicLVTMasked|wakeVector)
	lapicRegs.Write32(lapicDivideConfig, lapicDivideBy1)
	lapicRegs.Write32(lapicInitialCount, 0xffffffff)
}

// restartLAPIC starts the local APIC timer's one-shot count again from
// its top. A count started once at boot runs out after 2^32 ticks (4.3 s
// at QEMU's 1 GHz APIC timer): on a loaded host the PIT's windows can
// fail for that long before the RTC's second is timed, and a window
// whose count ran out measured the timer at 0 Hz, which left the idle
// governor, and with it every interrupt, off (clock=rtc, the disks
// polling). Each window therefore restarts it, and one that still sees
// the count at 0 is thrown away.
func restartLAPIC() { lapicRegs.Write32(lapicInitialCount, 0xffffffff) }

// maskPIC keeps the 8259 PICs, when the machine has them (microvm's
// pic=on), from passing the PIT's IRQ 0 to the CPU: nothing installs a
// handler for it. The I/O APIC's entries are masked from reset.
func maskPIC() {
	x86.Out8(picMasterIMR, 0xff)
	x86.Out8(picSlaveIMR, 0xff)
}

func pitCount() uint16 {
	x86.Out8(pitCommand, pitLatchCh0)
	lo := x86.In8(pitCh0)
	hi := x86.In8(pitCh0)
	return uint16(hi)<<8 | uint16(lo)
}

// Calibration is a handful of short windows, each timed against the
// reference; the median is kept. A window in which the CPU stopped for a
// while (QEMU's thread preempted on a busy host) is thrown away: the PIT's
// counter wraps every 55 ms, so a long gap loses whole wraps and would make
// the TSC look faster than it is (seen: sleeps of 3 and 4 s for 2). A window is bad when one gap between two polls takes
// more than an eighth of it: normal gaps are microseconds.
const (
	calibrationWindows  = 5
	calibrationAttempts = 8          // per good window wanted
	pitWindowTicks      = pitHz / 50 // 20 ms
)

// window is what one calibration window measured: the TSC's and the
// local APIC timer's rates.
type window struct {
	tsc, apic uint64
}

// median runs measure until it has want good windows and
// returns the median TSC and LAPIC rates; when the host keeps stopping it,
// it makes do with the good windows it got. ok is false when the reference
// is absent or no window was good.
func median(measure func() (w window, good, absent bool), want int) (tscHz, lapic uint64, ok bool) {
	var ws [calibrationWindows]window
	want = min(want, len(ws))
	n := 0
	for i := 0; i < calibrationAttempts*want && n < want; i++ {
		w, good, absent := measure()
		if absent {
			return 0, 0, false
		}
		if good {
			ws[n] = w
			n++
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	// Insertion sort by TSC rate: no allocation this early.
	for i := 1; i < n; i++ {
		for j := i; j > 0 && ws[j].tsc < ws[j-1].tsc; j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
	m := ws[n/2]
	return m.tsc, m.apic, true
}

// calibratePIT times windows of PIT channel 0 in mode 2 (which counts
// down from 65536 and reloads). Channel 2 would need the speaker gate on
// port 0x61, which microvm lacks.
func calibratePIT() (tscHz, lapic uint64, ok bool) {
	x86.Out8(pitCommand, pitCh0Mode2LoHi)
	x86.Out8(pitCh0, 0)
	x86.Out8(pitCh0, 0)
	tscHz, lapic, ok = median(pitWindow, calibrationWindows)
	// Leave channel 0 quiet: mode 0 with a count of 1 fires once, then
	// its output stays high.
	x86.Out8(pitCommand, pitCh0Mode0LoHi)
	x86.Out8(pitCh0, 1)
	x86.Out8(pitCh0, 0)
	return tscHz, lapic, ok
}

func pitWindow() (w window, good, absent bool) {
	prev := pitCount()
	restartLAPIC()
	tsc0 := x86.TSC()
	apic0 := lapicRegs.Read32(lapicCurrentCount)
	last, maxGap := tsc0, uint64(0)
	elapsed, same := 0, 0
	for elapsed < pitWindowTicks {
		c := pitCount()
		now := x86.TSC()
		maxGap = max(maxGap, now-last)
		last = now
		if c == prev {
			// A counter at 1.19 MHz that reads the same a
			// hundred thousand times running is not there.
			if same++; same > 100000 {
				return w, false, true
			}
			continue
		}
		same = 0
		elapsed += int(prev - c) // counts down, wrapping mod 2^16
		prev = c
	}
	tsc1 := x86.TSC()
	apic1 := lapicRegs.Read32(lapicCurrentCount)
	if maxGap > (tsc1-tsc0)/8 || apic1 == 0 {
		return w, false, false
	}
	w.tsc = (tsc1 - tsc0) * pitHz / uint64(elapsed)
	w.apic = uint64(apic0-apic1) * pitHz / uint64(elapsed)
	return w, true, false
}

func cmosRead(r uint8) uint8 {
	x86.Out8(cmosIndex, r)
	return x86.In8(cmosData)
}

func cmosWrite(r, v uint8) {
	x86.Out8(cmosIndex, r)
	x86.Out8(cmosData, v)
}

// calibrateRTC times one second of the RTC: from one change of its
// seconds register to the next. It is the fallback for a machine without a
// PIT (pit=off) and costs up to two seconds of boot. The periodic flag
// would be quicker but is unusable here: QEMU sets it only with the
// periodic interrupt enabled, and with the interrupt masked in the I/O
// APIC it counts them as coalesced and sets the flag again at times of its
// own to make up for them.
func calibrateRTC() (tscHz, lapic uint64, ok bool) {
	if a, b := cmosRead(rtcRegA), cmosRead(rtcRegB); a == 0xff && b == 0xff {
		return 0, 0, false
	}
	return median(rtcWindow, 1)
}

// rtcTick waits for the seconds register to change and returns the
// largest gap between two polls.
func rtcTick() (maxGap uint64, ok bool) {
	s0 := cmosRead(rtcSeconds)
	last := x86.TSC()
	for i := 0; i < 100000000; i++ {
		s := cmosRead(rtcSeconds)
		now := x86.TSC()
		maxGap = max(maxGap, now-last)
		last = now
		if s != s0 {
			return maxGap, true
		}
	}
	return 0, false
}

func rtcWindow() (w window, good, absent bool) {
	if _, ok := rtcTick(); !ok {
		return w, false, true
	}
	restartLAPIC()
	tsc0 := x86.TSC()
	apic0 := lapicRegs.Read32(lapicCurrentCount)
	maxGap, ok := rtcTick()
	if !ok {
		return w, false, true
	}
	tsc1 := x86.TSC()
	apic1 := lapicRegs.Read32(lapicCurrentCount)
	if maxGap > (tsc1-tsc0)/8 || apic1 == 0 {
		return w, false, false
	}
	return window{tsc: tsc1 - tsc0, apic: uint64(apic0 - apic1)}, true, false
}

// rtcTime reads the RTC's date and time as nanoseconds since the Unix
// epoch, reading until two reads agree so that an update cannot tear it.
func rtcTime() (int64, bool) {
	read := func() (v [7]int, ok bool) {
		for i := 0; cmosRead(rtcRegA)&rtcAUIP != 0; i++ {
			if i > 1000000 {
				return v, false
			}
		}
		regs := [7]uint8{rtcSeconds, rtcMinutes, rtcHours, rtcDay, rtcMonth, rtcYear, rtcCentury}
		for i, r := range regs {
			v[i] = int(cmosRead(r))
		}
		return v, true
	}
	var v [7]int
	for tries := 0; ; tries++ {
		a, ok1 := read()
		b, ok2 := read()
		if !ok1 || !ok2 || tries > 10 {
			return 0, false
		}
		if a == b {
			v = a
			break
		}
	}
	regB := cmosRead(rtcRegB)
	pm := v[2]&0x80 != 0
	v[2] &= 0x7f
	if regB&rtcBBin == 0 {
		for i := range v {
			v[i] = v[i]&0x0f + v[i]>>4*10
		}
	}
	if regB&rtcB24h == 0 {
		v[2] %= 12
		if pm {
			v[2] += 12
		}
	}
	year := v[6]*100 + v[5]
	if v[6] == 0 {
		year = 2000 + v[5]
	}
	if v[4] < 1 || v[4] > 12 || v[3] < 1 || v[3] > 31 || v[2] > 23 || v[1] > 59 || v[0] > 59 {
		return 0, false
	}
	days := daysFromCivil(year, v[4], v[3])
	secs := days*86400 + int64(v[2])*3600 + int64(v[1])*60 + int64(v[0])
	return secs * 1e9, true
}

// daysFromCivil is the number of days from 1970-01-01 to y-m-d in the
// proleptic Gregorian calendar (H. Hinnant, "chrono-Compatible Low-Level
// Date Algorithms").
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
