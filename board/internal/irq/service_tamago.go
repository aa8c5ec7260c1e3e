//go:build tamago

package irq

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"
)

// StartService starts the service goroutine and sets Wake to wake it:
// the goroutine sleeps in time.Sleep, which TamaGo's runtime.Wake ends
// early, the way upstream's arm.ServiceInterrupts waits for an IRQ.
func (l *Lines) StartService() {
	var g atomic.Uintptr
	l.Wake = func() bool {
		gp := g.Load()
		return gp != 0 && runtime.Wake(uint(gp))
	}
	go func() {
		gp, _ := runtime.GetG()
		g.Store(uintptr(gp))
		l.Serve(func() { time.Sleep(math.MaxInt64) })
	}()
}
