// A plain Go TCP client for tests/supervise.rs, built static (CGO_ENABLED=0)
// and dynamic (cgo). Go makes its own system calls: no preload reaches it.
//
//	client read ADDR      connect, read until EOF: prints "read N bytes FNV"
//	                      (FNV-1a 64 of the bytes, as tests/common's fnv)
//	client write ADDR N   connect, write N bytes, close
//
// Errors go to stderr as "error: ..." with exit status 1.
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: client read|write ADDR [N]")
		os.Exit(2)
	}
	c, err := net.Dial("tcp", os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	switch os.Args[1] {
	case "read":
		buf := make([]byte, 65536)
		var n uint64
		var sum uint64 = 0xcbf29ce484222325
		for {
			k, err := c.Read(buf)
			for _, b := range buf[:k] {
				sum ^= uint64(b)
				sum *= 0x100000001b3
			}
			n += uint64(k)
			if err != nil {
				if err.Error() == "EOF" {
					fmt.Printf("read %d bytes %016x\n", n, sum)
					os.Exit(0)
				}
				fmt.Fprintf(os.Stderr, "error after %d bytes: %v\n", n, err)
				os.Exit(1)
			}
		}
	case "write":
		n, _ := strconv.Atoi(os.Args[3])
		buf := make([]byte, n)
		k, err := c.Write(buf)
		if err != nil {
			fmt.Fprintf(os.Stderr, "error after %d bytes: %v\n", k, err)
			os.Exit(1)
		}
		c.Close()
		fmt.Printf("wrote %d bytes\n", k)
	}
}
