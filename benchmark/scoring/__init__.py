"""Scoring: held-out NLL of episodes (`nll`), scoring continuous densities on quantised audio (`dequantise`), sample quality (`quality`, `text_quality`, `audio_quality`)."""
