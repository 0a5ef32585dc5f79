"""Applications built on the graph: pictures, gradient-flow analysis, the demo, the
benchmarks and the command line."""
