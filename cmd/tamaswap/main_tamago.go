//go:build tamago && amd64

// The unikernel: board/microvm brings up the machine (clock, console,
// power-off) before main runs; main finds the virtio-blk disks, hands them
// to the shell on COM1 and powers off with the shell's status.
package main

import (
	"fmt"

	"github.com/tamaswap/tamaswap/board/microvm"
	"github.com/tamaswap/tamaswap/cmd/internal/shell"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
)

func main() {
	con := &microvm.Console{}
	start, end := microvm.RAM()
	hz, clock := microvm.TSCFrequency()
	fmt.Fprintf(con, "tamaswap: board=%s ram=%#x+%dM tsc_hz=%d clock=%s\n", microvm.Platform, start, (end-start)>>20, hz, clock)
	ts, err := microvm.BlockTransports()
	if err != nil {
		// Some device could not be set up (e.g. a transitional PCI
		// device's I/O BAR on a machine without an I/O window): say
		// so and carry on with the others.
		fmt.Fprintf(con, "tamaswap: %v\n", err)
	}
	var disks []shell.Disk
	for _, t := range ts {
		d, err := virtioblk.New(t, microvm.DMA())
		if err != nil {
			fmt.Fprintf(con, "tamaswap: %s disk: %v\n", t.Name(), err)
			continue
		}
		version := "modern"
		if t.Legacy() {
			version = "legacy"
		}
		disks = append(disks, shell.Disk{
			Dev:       d,
			Transport: t.Name(),
			Version:   version,
			Features:  d.FeatureNames(),
		})
	}
	status := shell.Run(shell.Config{
		Runtime:  "tamago",
		Platform: microvm.Platform,
		In:       con,
		Out:      con,
		Disks:    disks,
	})
	for _, d := range disks {
		_ = d.Dev.Disconnect()
	}
	microvm.PowerOff(status)
}
