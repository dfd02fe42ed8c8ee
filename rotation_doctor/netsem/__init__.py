"""AWS network semantics as small pure helpers: one module per mechanism, each tested on its own."""
