"""Hypothesis strategies shared by the property tests.

Example budget: tests/conftest.py loads the "ci" profile for every property test
(60 examples, derandomised, no deadline), so CI time and results are repeatable.
"""

from hypothesis import strategies as st

# Parameter counts from 1 to 1e14, token counts from 1 to 1e14, devices from 1 to 1e6.
params = st.floats(min_value=1.0, max_value=1e14, allow_nan=False, allow_infinity=False)
tokens = st.floats(min_value=1.0, max_value=1e14, allow_nan=False, allow_infinity=False)
devices = st.integers(min_value=1, max_value=1_000_000)
mfu = st.floats(min_value=0.01, max_value=1.0)
factor = st.floats(min_value=1.01, max_value=100.0)
pue = st.floats(min_value=1.0, max_value=3.0)
price = st.floats(min_value=0.01, max_value=100.0)
intensity = st.floats(min_value=1.0, max_value=1500.0)
gpu_hardware = st.sampled_from(["v100-sxm2-32gb", "a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm5-80gb",
                                "h200-sxm-141gb", "b200", "mi300x", "tpu-v4", "tpu-v5p", "l4"])
catalog_lms = st.sampled_from(["gpt2", "gpt2-xl", "gpt-j-6b", "gpt3-175b", "llama-2-70b", "llama-3.1-405b",
                               "mixtral-8x7b", "deepseek-v3", "gpt4", "palm-540b"])

# Serving deployments that fit as given (model, hardware, devices), with request lengths that stay
# within every one's context (gpt-j-6b's 2,048 tokens), and a load as a share of the replica's
# max_rate (past 1: beyond what it sustains).
deployments = st.sampled_from([("llama-2-7b", "h100", 1), ("llama-3.1-8b", "a100-sxm4-80gb", 1),
                               ("gpt-j-6b", "l40s", 1), ("llama-2-13b", "h200", 1), ("mixtral-8x7b", "h100", 2),
                               ("llama-2-70b", "h100", 4), ("mistral-7b", "mi300x", 1)])
prompt_lengths = st.integers(min_value=1, max_value=1500)
output_lengths = st.integers(min_value=2, max_value=500)
load_shares = st.floats(min_value=1e-3, max_value=1.5)
