package harness

import (
	"slices"
	"strings"
	"testing"
)

// armImage is an arm TamaGo image as Build returns it, without building.
func armImage(t *testing.T) Image {
	t.Helper()
	a, err := LookupArch("arm")
	if err != nil {
		t.Fatal(err)
	}
	return tamagoImage{arch: "arm", target: a.TamaGo, elfs: map[string]string{
		MachineUSBArmory: "/build/usbarmory.elf",
		MachineMX6ULLEVK: "/build/mx6ullevk.elf",
	}}
}

// index returns the position of the first occurrence of the argument pair
// a b in args, or -1.
func index(args []string, a, b string) int {
	for i := 0; i+1 < len(args); i++ {
		if args[i] == a && args[i+1] == b {
			return i
		}
	}
	return -1
}

func TestARMArgs(t *testing.T) {
	img := armImage(t)
	for _, c := range []struct {
		machine, elf string
		uart1Null    bool
	}{
		{"", "/build/usbarmory.elf", true}, // usbarmory is the default
		{MachineUSBArmory, "/build/usbarmory.elf", true},
		{MachineMX6ULLEVK, "/build/mx6ullevk.elf", false},
	} {
		opts := Options{Arch: "arm", Machine: c.machine, Drives: []string{DiskDrive("a.img"), DiskDrive("b,c.img")}}
		args, err := Args(img, &opts)
		if err != nil {
			t.Fatalf("machine %q: %v", c.machine, err)
		}
		joined := strings.Join(args, " ")
		for _, want := range []string{"-M mcimx6ul-evk", "-cpu cortex-a7", "-m 512M", "-kernel " + c.elf,
			"-drive file=a.img,format=raw,if=sd,index=0", "-drive file=b,,c.img,format=raw,if=sd,index=1",
			"-semihosting-config enable=on"} {
			if !strings.Contains(joined, want) {
				t.Errorf("machine %q: args lack %q: %s", c.machine, want, joined)
			}
		}
		// The harness's console is the first -serial after a
		// "-serial null" (UART1) on the USB armory, the first on the EVK.
		null, console := index(args, "-serial", "null"), index(args, "-serial", "chardev:console")
		if console < 0 || (null >= 0) != c.uart1Null || (null >= 0 && null > console) {
			t.Errorf("machine %q: serial ports %s: want the console on UART%d", c.machine, joined, map[bool]int{true: 2, false: 1}[c.uart1Null])
		}
		if slices.Contains(args, "isa-debug-exit,iobase=0xf4,iosize=0x04") || strings.Contains(joined, "virtio") {
			t.Errorf("machine %q: amd64 or virtio arguments on arm: %s", c.machine, joined)
		}
	}
}

func TestARMArgsRefused(t *testing.T) {
	img := armImage(t)
	for name, opts := range map[string]Options{
		"three disks": {Drives: []string{"file=a", "file=b", "file=c"}},
		"legacy":      {Legacy: true},
		"small RAM":   {Mem: 256 << 20},
		"machine":     {Machine: "microvm"},
	} {
		opts.Arch = "arm"
		if args, err := Args(img, &opts); err == nil {
			t.Errorf("%s: booted with %q, want an error", name, args)
		}
	}
}
