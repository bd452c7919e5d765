"""Host-side wrappers of the attention kernel families: quantize, launch, return (out[, lse]).

Inputs reach these already validated by sageattention.core (device, dtype, shapes, layout, GQA).
"""
