"""What a model costs to run: counted cost of one generation step (`counting`: MACs,
operators, parameters, weight bytes) and the step of each FSMB network (`steps`)."""
