"""Faithful stand-ins for the outside systems leadbot talks to, served over real HTTP on a
loopback port: shared by the sandbox, the tests and the benchmarks."""
