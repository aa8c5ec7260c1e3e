package sdmmc

import (
	"errors"
	"fmt"
)

// probeSectors is what the ladder reads to test a bus setting.
const probeSectors = 8

// settle tests the bus setting identification chose with real transfers
// (a multiple- and a single-block read from sector 0) and, while they
// fail with CRC errors or timeouts, steps down: High Speed to default
// speed, then to one data line. c.ladder says which step held and why the
// others did not, for the console.
func (c *Card) settle() error {
	buf := make([]byte, probeSectors*512)
	for {
		err := c.probe(buf)
		if err == nil {
			c.ladderNote("held: " + c.busText())
			return nil
		}
		if !errors.Is(err, ErrCRC) && !errors.Is(err, ErrTimeout) {
			return err
		}
		c.recover()
		was := c.busText()
		switch {
		case c.ios.HighSpeed:
			err = c.defaultSpeed()
		case c.ios.Width > Width1:
			err = c.narrow()
		default:
			return fmt.Errorf("sdmmc: test read fails at %s: %w", was, err)
		}
		if err != nil {
			return fmt.Errorf("sdmmc: stepping down from %s: %w", was, err)
		}
		c.ladderNote(fmt.Sprintf("%s failed, trying %s", was, c.busText()))
	}
}

func (c *Card) busText() string {
	speed := "default speed"
	if c.ios.HighSpeed {
		speed = "high speed"
	}
	return fmt.Sprintf("%s %d Hz %d-bit", speed, c.ios.Clock, c.ios.Width)
}

func (c *Card) probe(buf []byte) error {
	n := int(min(int64(probeSectors), c.info.Sectors))
	c.bufs = append(c.bufs[:0], buf[:n*512])
	err := c.rw(0, n, false)
	if err == nil {
		c.bufs = append(c.bufs[:0], buf[:512])
		err = c.rw(0, 1, false)
	}
	clear(c.bufs[:cap(c.bufs)])
	c.bufs = c.bufs[:0]
	return err
}

// defaultSpeed leaves High Speed timing: the clock first, so that the
// switch itself runs at a speed the bus holds.
func (c *Card) defaultSpeed() error {
	if c.kind == MMC {
		if err := c.setClock(mmcDefaultClock, false); err != nil {
			return err
		}
		return c.mmcSwitch(extHSTiming, 0)
	}
	if err := c.setClock(sdDefaultClock, false); err != nil {
		return err
	}
	// CMD6 mode 1, function group 1 function 0: default speed.
	status := make([]byte, 64)
	return c.readData(cmdSwitch, 0x80fffff0, status)
}

// narrow goes to one data line.
func (c *Card) narrow() error {
	if c.kind == MMC {
		if err := c.mmcSwitch(extBusWidth, 0); err != nil {
			return err
		}
	} else if _, err := c.appCommand(acmdSetBusWidth, 0, RespR1); err != nil {
		return err
	}
	return c.setWidth(Width1)
}
