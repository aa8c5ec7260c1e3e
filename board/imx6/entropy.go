//go:build tamago && arm

package imx6

import "github.com/usbarmory/tamago/soc/nxp/imx6ul"

// Entropy names where the runtime's random numbers come from, and whether
// that is a true random generator. TamaGo's imx6ul initRNG (soc/nxp/imx6ul
// rng.go) seeds an AES-CTR DRBG from the RNGB on the i.MX6ULL/ULZ and from
// the CAAM TRNG on the i.MX6UL; when it does not detect silicon (QEMU's
// mcimx6ul-evk has no silicon version) it seeds the DRBG from the boot
// clock, which is the same on every boot.
func Entropy() (name string, trueRNG bool) {
	switch {
	case !imx6ul.Native:
		return "drbg-bootclock", false
	case imx6ul.Family == imx6ul.IMX6UL:
		return "caam", true
	default:
		return "rngb", true
	}
}
