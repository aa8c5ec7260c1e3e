//go:build tamago

package tamago

import "github.com/usbarmory/tamago/dma"

// NewDMA returns DMA memory from r. With a nil r (dma.Default() on a
// board that sets up no region) every Alloc fails with ErrNoRegion.
func NewDMA(r *dma.Region) *DMA {
	if r == nil {
		return &DMA{}
	}
	return &DMA{r: r}
}
