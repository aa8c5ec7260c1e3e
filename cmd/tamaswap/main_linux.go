//go:build linux && (amd64 || arm64)

// Command tamaswap is the in-image program: the serial shell
// (cmd/internal/shell) over every virtio-blk disk the board finds. Built
// GOOS=linux it is /init of the hosted runtime's initramfs (board/hosted);
// built GOOS=tamago it is the unikernel (main_tamago.go).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/tamaswap/tamaswap/board/hosted"
	"github.com/tamaswap/tamaswap/cmd/internal/shell"
	"github.com/tamaswap/tamaswap/drivers/virtioblk"
)

func main() {
	if err := hosted.Init(); err != nil {
		fail(nil, err)
	}
	con, err := hosted.OpenConsole(hosted.ConsoleTTY)
	if err != nil {
		fail(nil, err)
	}
	var (
		disks    []shell.Disk
		platform string
		extra    []shell.Command
	)
	cmdline, _ := hosted.ReadCmdline()
	if fio := hosted.FioPath(cmdline); fio || hosted.KernelPath(cmdline) {
		// The benchmarks' kernel and fio paths: the guest kernel's own
		// virtio_blk drives the disks; our driver stays out of the way.
		disks, err = kernelDisks(fio)
		if err != nil {
			fail(con, err)
		}
		platform = hosted.Platform()
		if fio {
			extra = append(extra, shell.Command{Name: "fio", Usage: "[--size SIZE] [--ms MS] ENGINE:WORKLOAD...",
				Help: "Debian's fio on the current disk (ENGINE psync or io_uring)", Run: runFio})
		}
	} else {
		b, err := hosted.Open()
		if err != nil {
			fail(con, err)
		}
		disks = findDisks(b, con)
		platform = b.Platform
	}
	status := shell.Run(shell.Config{
		Runtime:  "hosted",
		Platform: platform,
		In:       con,
		Out:      con,
		Disks:    disks,
		Commands: extra,
	})
	for _, d := range disks {
		d.Dev.Disconnect()
	}
	hosted.PowerOff(con, status)
}

// findDisks drives every virtio-blk device with our driver. A device that
// fails is reported on the console and left out.
func findDisks(b *hosted.Board, log io.Writer) []shell.Disk {
	ts, err := b.Transports(virtioblk.DeviceID)
	if err != nil {
		fmt.Fprintf(log, "tamaswap: error: %v\n", err)
	}
	var disks []shell.Disk
	for _, t := range ts {
		d, err := virtioblk.New(t, b.DMA)
		if err != nil {
			fmt.Fprintf(log, "tamaswap: error: %s disk: %v\n", t.Name(), err)
			continue
		}
		version := "modern"
		if t.Legacy() {
			version = "legacy"
		}
		disks = append(disks, shell.Disk{Dev: d, Transport: t.Name(), Version: version, Features: d.FeatureNames(), Queues: d.NumQueues(), Ring: d.Ring()})
	}
	return disks
}

// kernelDisks loads the guest kernel's virtio modules and opens every
// disk its virtio_blk found, O_DIRECT; with fio, it mounts fio's disk
// and leaves it out.
func kernelDisks(fio bool) ([]shell.Disk, error) {
	if err := hosted.LoadModules(hosted.ModuleDir, hosted.KernelModules...); err != nil {
		return nil, err
	}
	kds, err := hosted.OpenKernelDisks()
	if err != nil {
		return nil, err
	}
	if fio {
		if kds, err = mountFioDisk(kds); err != nil {
			return nil, err
		}
	}
	disks := make([]shell.Disk, len(kds))
	for i, kd := range kds {
		disks[i] = shell.Disk{Dev: kd, Transport: kd.Transport(), Version: kd.Version(), Features: kd.FeatureNames()}
	}
	return disks, nil
}

// fail reports an error that leaves no shell to run, and powers off with
// status 1 (PID 1 must never exit: the kernel would panic).
func fail(con *hosted.Console, err error) {
	var w io.Writer = os.Stderr
	if con != nil {
		w = con
	}
	fmt.Fprintf(w, "tamaswap: error: %v\n", err)
	hosted.PowerOff(con, 1)
	select {}
}
