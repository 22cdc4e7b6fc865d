"""The process the benchmark runs in: the torchrun process group and its ranks
(`distributed`); imports nothing else of FSMB, so that every layer may use it."""
