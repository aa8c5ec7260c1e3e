package swapfs

// fuzzEncryption returns the options FuzzOps uses for inputs that ask for
// encryption: none until the package has it.
func fuzzEncryption() []Option { return nil }
