"""Brian2 models of recurrent LIF excitatory/inhibitory networks with STDP,
inhibitory STDP and a noise-driven sleep controller."""
