module github.com/tamaswap/tamaswap

go 1.26.0
