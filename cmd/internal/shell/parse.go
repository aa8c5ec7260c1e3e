package shell

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

var (
	errNumber = errors.New("not a decimal number")
	errRange  = errors.New("out of range")
)

// parseUint parses a decimal number in [0, limit].
func parseUint(what, s string, limit int64) (int64, error) {
	if s == "" || s[0] < '0' || s[0] > '9' { // no sign, no spaces
		return 0, fmt.Errorf("%s %q: %w", what, s, errNumber)
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s %s: %w (max %d)", what, s, errRange, limit)
		}
		return 0, fmt.Errorf("%s %q: %w", what, s, errNumber)
	}
	if v > limit {
		return 0, fmt.Errorf("%s %d: %w (max %d)", what, v, errRange, limit)
	}
	return v, nil
}

// parseSize parses a size: a decimal number of bytes, or of KiB, MiB or
// GiB with a K, M or G suffix (either case).
func parseSize(what, s string) (int64, error) {
	shift := 0
	num := s
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			shift = 10
		case "M":
			shift = 20
		case "G":
			shift = 30
		}
		if shift != 0 {
			num = s[:n-1]
		}
	}
	v, err := parseUint(what, num, math.MaxInt64>>shift)
	if err != nil {
		if errors.Is(err, errNumber) {
			return 0, fmt.Errorf("%s %q: not a size (decimal, optional K, M or G)", what, s)
		}
		return 0, err
	}
	return v << shift, nil
}

// splitFlags separates --flags from positional arguments. Flags that take
// a value (listed in valued) consume the next argument.
func splitFlags(args []string, valued map[string]bool) (pos []string, flags map[string]string, err error) {
	flags = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(a, "=")
		if _, dup := flags[name]; dup {
			return nil, nil, fmt.Errorf("%s given twice", name)
		}
		takes, known := valued[name]
		switch {
		case !known:
			return nil, nil, fmt.Errorf("unknown option %s", name)
		case takes && !hasVal:
			if i+1 >= len(args) {
				return nil, nil, fmt.Errorf("%s needs a value", name)
			}
			i++
			val = args[i]
		case !takes && hasVal:
			return nil, nil, fmt.Errorf("%s takes no value", name)
		}
		flags[name] = val
	}
	return pos, flags, nil
}
